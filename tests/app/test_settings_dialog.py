"""The settings dialog, the model card, and training in a separate process."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine.model import load_card
from resonance_app.views import train_panel
from resonance_app.views.settings_dialog import describe_card
from tests.model_factory import build_model


def test_settings_dialog_folders_and_workers(qtbot, make_main_window, library,
                                             prompts) -> None:
    w = make_main_window(library)
    w.actions_["settings"].trigger()
    d = w.settings_dialog
    assert d.isVisible()
    assert [d.folders.item(i).text() for i in range(d.folders.count())] == ["/music"]
    d.workers.setValue(3)
    assert w.settings.worker_count == 3 and w.controller.workers == 3
    d.watch.setChecked(False)
    assert not w.folders.watcher.enabled and w.settings.watch_folders is False
    prompts.folders.append("/more")
    qtbot.mouseClick(d.add_button, Qt.MouseButton.LeftButton)
    assert Path("/more") in library.roots()
    assert ("scan", 3) in library.calls
    d.folders.setCurrentRow(1)
    qtbot.mouseClick(d.remove_button, Qt.MouseButton.LeftButton)
    assert Path("/more") not in library.roots()
    scans = len([c for c in library.calls if c[0] == "scan"])
    qtbot.mouseClick(d.rescan_button, Qt.MouseButton.LeftButton)
    assert len([c for c in library.calls if c[0] == "scan"]) == scans + 1


def test_remove_with_no_folder_chosen_removes_nothing(qtbot, make_main_window,
                                                      library) -> None:
    w = make_main_window(library)
    w.actions_["settings"].trigger()
    d = w.settings_dialog
    d.folders.setCurrentRow(-1)
    qtbot.mouseClick(d.remove_button, Qt.MouseButton.LeftButton)
    assert library.roots() == [Path("/music")]


def test_model_card_text(tmp_path: Path) -> None:
    assert "No model" in describe_card(None)
    card = load_card(build_model(tmp_path / "model"))
    text = describe_card(card)
    assert card.sha256 in text and "Training data" in text and "Metrics" in text


def test_model_rows_show_the_development_benchmark(tmp_path: Path) -> None:
    from resonance_app.about import model_rows

    card = load_card(build_model(tmp_path / "model"))
    plain = dict(model_rows(card))
    card.metrics["bench_quality"] = {"same_source": {"P@10": 0.402}, "versions": {"mAP": 0.793},
                                     "search": {"degraded": {"R@1": 0.942}}}
    rows = dict(model_rows(card))
    assert rows["Same-soundtrack tracks in the top 10 (unseen soundtracks)"] == "40.2 %"
    assert rows["Other versions of a piece ranked high (mAP)"] == "79.3 %"
    assert rows["10 s phone recording: right track first"] == "94.2 %"
    assert len(rows) == len(plain) + 3


def _open_training(w, monkeypatch, program: str, args: list[str]):
    """Open Settings ▸ Training with ``resonance-train`` replaced by ``program args``."""
    monkeypatch.setattr(train_panel, "training_available", lambda: True)
    monkeypatch.setattr(train_panel, "train_command",
                        lambda library, out: (program, [*args, out]))
    w.actions_["settings"].trigger()
    return w.settings_dialog.train


def test_train_button_runs_the_trainer_in_a_separate_process(qtbot, make_main_window, library,
                                                             monkeypatch) -> None:
    w = make_main_window(library)
    script = ("import json, sys\n"
              "for i in range(1, 5):\n"
              "    print(json.dumps({'progress': i / 4, 'message': f'epoch {i}'}), flush=True)\n"
              "print('plain log line', flush=True)\n")
    panel = _open_training(w, monkeypatch, sys.executable, ["-c", script])
    with qtbot.waitSignal(panel.finished, timeout=20_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.progress.value() == 100
    assert "epoch 4" in panel.log.toPlainText() and "plain log line" in panel.log.toPlainText()
    assert done.args == [False]  # it exited cleanly but wrote no model: nothing to switch to
    assert "failed validation" in panel.log.toPlainText()
    assert panel.start_button.isEnabled()


def test_training_cancel_never_blocks_the_gui(qtbot, make_main_window, library,
                                              monkeypatch) -> None:
    w = make_main_window(library)
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('started', flush=True); time.sleep(60)")
    panel = _open_training(w, monkeypatch, sys.executable, ["-c", stubborn])
    panel.KILL_AFTER_MS = 500
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "started" in panel.log.toPlainText(), timeout=20_000)
    with qtbot.waitSignal(panel.finished, timeout=10_000) as done:
        t0 = time.monotonic()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert time.monotonic() - t0 < 0.3  # terminate is asked for, never waited on
    assert done.args == [False]  # it ignored SIGTERM and was killed
    assert panel.process.state() == panel.process.ProcessState.NotRunning
    assert panel.start_button.isEnabled()


def test_training_without_torch_says_how_to_install(make_main_window, library, prompts,
                                                    monkeypatch) -> None:
    monkeypatch.setattr(train_panel, "training_available", lambda: False)
    w = make_main_window(library)
    w.actions_["settings"].trigger()
    panel = w.settings_dialog.train
    assert not panel.start_button.isEnabled()
    assert train_panel.install_command() in panel.info.text()


def test_install_hint_names_a_command_for_this_installation(monkeypatch) -> None:
    command = train_panel.install_command()
    assert command.startswith(sys.executable) and "[train]" in command
    root = train_panel._installed_from()
    if root is not None:  # an editable or local install: PyPI's 'resonance' is not ours
        assert f"-e '{root}[train]'" in command
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert "source checkout" in train_panel.install_command()


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


def _train(qtbot, w, monkeypatch, score: float) -> Path:
    """Click 'Train on my library…' with a trainer that writes a model scoring ``score``."""
    root = str(Path(__file__).resolve().parents[2])
    panel = _open_training(w, monkeypatch, sys.executable,
                           ["-c", TRAINER.format(root=root, score=score)])
    with qtbot.waitSignal(panel.finished, timeout=60_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert done.args == [True]
    return panel.out_dir


@pytest.mark.slow  # loads and checks two models (the worse-model test stays fast)
def test_better_model_is_switched_to(qtbot, make_main_window, library, tmp_path: Path,
                                     monkeypatch) -> None:
    library.folder = tmp_path
    w = make_main_window(library)
    switched: list[str] = []
    w.actions_["settings"].trigger()
    w.settings_dialog.train.modelSwitched.connect(switched.append)
    out = _train(qtbot, w, monkeypatch, 0.8)
    panel = w.settings_dialog.train
    assert out.parent == tmp_path / "models" and switched == [str(out)]
    assert ("set_model", out) in library.calls
    assert library.calls[-1][0] == "scan"  # re-embedding starts in the background
    assert "switching" in panel.log.toPlainText()
    assert "0.8" in w.settings_dialog.card.toPlainText()


def test_worse_model_is_kept_out(qtbot, make_main_window, library, tmp_path: Path,
                                 monkeypatch) -> None:
    library.folder = tmp_path
    library.set_model(build_model(tmp_path / "current"))
    current = library.card
    library.card = type(current)(**{**current.__dict__,
                                    "metrics": {"heldout": {"recall@5": 0.9}}})
    w = make_main_window(library)
    _train(qtbot, w, monkeypatch, 0.5)
    panel = w.settings_dialog.train
    assert [c for c in library.calls if c[0] == "set_model"] == [
        ("set_model", tmp_path / "current")]
    assert "keeping the current model" in panel.log.toPlainText()


def test_model_tab_lists_models_and_switches_back_to_the_shipped_one(
        qtbot, make_main_window, library, tmp_path: Path) -> None:
    from resonance_app.installed_models import shipped_model_dir

    library.folder = tmp_path
    trained = build_model(tmp_path / "models" / "trained-20261130", name="my-trained-model")
    library.set_model(trained)
    w = make_main_window(library)
    w.actions_["settings"].trigger()
    d = w.settings_dialog
    d.tabs.setCurrentIndex(1)
    labels = [d.models.item(i).text() for i in range(d.models.count())]
    assert len(labels) == 3 and all("shipped with Resonance" in x for x in labels[:2])
    assert "resonance-sounds-alike" in labels[1]
    assert "my-trained-model" in labels[2] and "in use" in labels[2]
    summary = {d.model_summary.itemAt(r, d.model_summary.ItemRole.LabelRole).widget().text():
               d.model_summary.itemAt(r, d.model_summary.ItemRole.FieldRole).widget().text()
               for r in range(d.model_summary.rowCount())}
    assert summary["Model"].startswith("my-trained-model") and "Training data" in summary
    d.models.setCurrentRow(2)
    assert not d.use_model.isEnabled()  # already in use
    qtbot.mouseClick(d.use_shipped, Qt.MouseButton.LeftButton)
    assert ("set_model", shipped_model_dir()) in library.calls
    assert library.calls[-1][0] == "scan"  # re-analysis with the shipped model
    assert "in use" in d.models.item(0).text() and not d.use_shipped.isEnabled()
    # the alternative shares the default's main graph (same sha256), not its vectors
    assert "in use" not in d.models.item(1).text()
    d.models.setCurrentRow(1)
    assert d.use_model.isEnabled()
    qtbot.mouseClick(d.use_model, Qt.MouseButton.LeftButton)
    alternative = shipped_model_dir().parent / "sounds-alike"
    assert [c for c in library.calls if c[0] == "set_model"][-1] == ("set_model", alternative)
    assert "in use" in d.models.item(1).text() and d.use_shipped.isEnabled()
    d.models.setCurrentRow(2)
    qtbot.mouseClick(d.use_model, Qt.MouseButton.LeftButton)
    assert [c for c in library.calls if c[0] == "set_model"][-1] == ("set_model", trained)


def test_model_tab_lists_the_model_in_use_from_another_folder(
        qtbot, make_main_window, library, tmp_path: Path) -> None:
    library.folder = tmp_path / "library"
    elsewhere = build_model(tmp_path / "elsewhere", name="model-from-elsewhere")
    library.set_model(elsewhere)  # e.g. `resonance --model DIR`: not under <library>/models
    w = make_main_window(library)
    w.actions_["settings"].trigger()
    d = w.settings_dialog
    d.tabs.setCurrentIndex(1)
    labels = [d.models.item(i).text() for i in range(d.models.count())]
    assert "model-from-elsewhere" in labels[-1] and "in use" in labels[-1]
    assert d.use_shipped.isEnabled()
