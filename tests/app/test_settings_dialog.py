"""The settings dialog, the model card, and training in a separate process."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.model import load_card
from resonance_app.views import train_panel
from resonance_app.views.actions import open_settings
from resonance_app.views.settings_dialog import describe_card
from tests.model_factory import build_model


def test_settings_dialog_folders_and_workers(qtbot, make_main_window, library,
                                             prompts) -> None:
    w = make_main_window(library)
    open_settings(w)
    d = w.settings_dialog
    assert d.isVisible()
    assert [d.folders.item(i).text() for i in range(d.folders.count())] == ["/music"]
    d.workers.setValue(3)
    assert w.settings.worker_count == 3 and w.controller.workers == 3
    prompts.folders.append("/more")
    d._add_folder()
    assert Path("/more") in library.roots()
    assert ("scan", 3) in library.calls
    d.folders.setCurrentRow(1)
    d._remove_folder()
    assert Path("/more") not in library.roots()
    assert "/more" not in w.settings.library_folders


def test_model_card_text(tmp_path: Path) -> None:
    assert "No model" in describe_card(None)
    card = load_card(build_model(tmp_path / "model"))
    text = describe_card(card)
    assert card.sha256 in text and "Training data" in text and "Metrics" in text


def test_training_runs_in_a_separate_process(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    open_settings(w)
    panel = w.settings_dialog.train
    script = ("import json, sys\n"
              "for i in range(1, 5):\n"
              "    print(json.dumps({'progress': i / 4, 'message': f'epoch {i}'}), flush=True)\n"
              "print('plain log line', flush=True)\n")
    with qtbot.waitSignal(panel.finished, timeout=20_000) as done:
        panel.start(sys.executable, ["-c", script], out_dir=Path("/nonexistent/model"))
    assert panel.progress.value() == 100
    assert "epoch 4" in panel.log.toPlainText() and "plain log line" in panel.log.toPlainText()
    assert done.args == [False]  # it exited cleanly but wrote no model: nothing to switch to
    assert "failed validation" in panel.log.toPlainText()


def test_training_cancel(qtbot, make_main_window, library) -> None:
    w = make_main_window(library)
    open_settings(w)
    panel = w.settings_dialog.train
    panel.start(sys.executable, ["-c", "import time; print('started', flush=True); "
                                       "time.sleep(60)"])
    qtbot.waitUntil(lambda: "started" in panel.log.toPlainText(), timeout=20_000)
    with qtbot.waitSignal(panel.finished, timeout=10_000) as done:
        panel.cancel_button.click()
    assert done.args == [False]
    assert panel.process.state() == panel.process.ProcessState.NotRunning


def test_training_without_torch_says_how_to_install(make_main_window, library, prompts,
                                                    monkeypatch) -> None:
    monkeypatch.setattr(train_panel, "training_available", lambda: False)
    w = make_main_window(library)
    open_settings(w)
    panel = w.settings_dialog.train
    assert not panel.start_button.isEnabled()
    assert "pip install 'resonance[train]'" in panel.info.text()
    panel.start()
    assert "pip install 'resonance[train]'" in prompts.messages[-1][2]


TRAINER = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.model_factory import build_model
out = Path(sys.argv[1])
print(json.dumps({{"progress": 0.5, "message": "training"}}), flush=True)
build_model(out, seed=3)
card = json.loads((out / "card.json").read_text())
card["metrics"] = {{"heldout": {{"recall@5": {score}}}}}
(out / "card.json").write_text(json.dumps(card))
print(json.dumps({{"progress": 1.0, "message": "exported"}}), flush=True)
"""


def _train(qtbot, panel, tmp_path: Path, score: float) -> None:
    root = str(Path(__file__).resolve().parents[2])
    out = tmp_path / "trained"
    with qtbot.waitSignal(panel.finished, timeout=60_000) as done:
        panel.start(sys.executable, ["-c", TRAINER.format(root=root, score=score), str(out)],
                    out_dir=out)
    assert done.args == [True]


def test_better_model_is_switched_to(qtbot, make_main_window, library, tmp_path: Path) -> None:
    w = make_main_window(library)
    open_settings(w)
    panel = w.settings_dialog.train
    switched = []
    panel.modelSwitched.connect(switched.append)
    _train(qtbot, panel, tmp_path, 0.8)
    assert switched == [str(tmp_path / "trained")]
    assert ("set_model", tmp_path / "trained") in library.calls
    assert library.calls[-1][0] == "scan"  # re-embedding starts in the background
    assert "switching" in panel.log.toPlainText()
    assert "0.8" in w.settings_dialog.card.toPlainText()


def test_worse_model_is_kept_out(qtbot, make_main_window, library, tmp_path: Path) -> None:
    library.set_model(build_model(tmp_path / "current"))
    current = library.card
    library.card = type(current)(**{**current.__dict__,
                                    "metrics": {"heldout": {"recall@5": 0.9}}})
    w = make_main_window(library)
    open_settings(w)
    panel = w.settings_dialog.train
    _train(qtbot, panel, tmp_path, 0.5)
    assert [c for c in library.calls if c[0] == "set_model"] == [
        ("set_model", tmp_path / "current")]
    assert "keeping the current model" in panel.log.toPlainText()


def test_paired_heldout_scores_decide_the_switch() -> None:
    from types import SimpleNamespace

    current = SimpleNamespace(sha256="abc", metrics={"heldout": {"recall@5": 0.99}})
    paired = SimpleNamespace(metrics={"heldout": {"recall@5": 0.7, "baseline_recall@5": 0.6,
                                                  "baseline_model": "abc"}})
    # the current model's own card figure was measured elsewhere: the paired one counts
    assert train_panel.is_better(paired, current)
    other = SimpleNamespace(sha256="zzz", metrics={"heldout": {"recall@5": 0.99}})
    assert not train_panel.is_better(paired, other)  # baseline of another model: not paired
    worse = SimpleNamespace(metrics={"heldout": {"recall@5": 0.5, "baseline_recall@5": 0.6,
                                                 "baseline_model": "abc"}})
    assert not train_panel.is_better(worse, current)
