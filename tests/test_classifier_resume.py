"""Per-model resume: a classifier continued from its epoch checkpoint ends as an uninterrupted one; a finished model
is read back from its folder, not trained again."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xgan.classifier.arm_run import FINISHED_RECORD
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.epoch_state import CHECKPOINT_FILE, read_checkpoint


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (56, 32, 32), dtype=np.uint8)
    labels = (images.reshape(56, -1).mean(axis=1) > 127.5).astype(int)
    labels[:4] = [0, 1, 0, 1]
    return images, labels


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_model_continued_from_its_checkpoint_ends_with_the_weights_and_history_of_an_uninterrupted_one(tmp_path, optimizer):
    from xgan.classifier.train import train_classifier

    images, labels = _data()
    validation = (images[:16], labels[:16])
    settings = dict(image_size=32, conv_filters=(4, 8), dense_units=(8,), batch_size=16, augment=True, patience=10,
                    optimizer=optimizer, seed=3)
    whole = train_classifier(ClassifierConfig(epochs=4, **settings), images, labels, validation,
                             checkpoint=(tmp_path / "whole.npz", "same inputs"))
    # The same model stopped after its second epoch (its checkpoint says epoch 2), then continued to the fourth.
    train_classifier(ClassifierConfig(epochs=2, **settings), images, labels, validation, checkpoint=(tmp_path / "parts.npz", "same inputs"))
    assert read_checkpoint(tmp_path / "parts.npz", "same inputs")["epochs_done"] == 2
    continued = train_classifier(ClassifierConfig(epochs=4, **settings), images, labels, validation,
                                 checkpoint=(tmp_path / "parts.npz", "same inputs"))
    assert [len(whole.history), whole.best_epoch] == [len(continued.history), continued.best_epoch]
    assert whole.history == continued.history
    for mine, theirs in zip(whole.model.variables, continued.model.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs), err_msg=mine.path)


def test_the_validation_outputs_kept_by_early_stopping_and_the_identity_view_are_what_prediction_gives():
    """The per-model cost: the best epoch's validation outputs and the TTA identity view are not computed again, and
    equal to the bit what computing them again gives."""
    from xgan.classifier.train import predict_probabilities, train_classifier

    images, labels = _data()
    config = ClassifierConfig(image_size=32, conv_filters=(4,), dense_units=(4,), batch_size=16, epochs=3, patience=10)
    result = train_classifier(config, images, labels, (images[:20], labels[:20]))
    plain = predict_probabilities(result.model, images[:20])
    np.testing.assert_array_equal(result.validation_outputs, plain)
    assert result.validation_outputs.dtype == plain.dtype and result.validation_outputs.shape == plain.shape
    np.testing.assert_array_equal(predict_probabilities(result.model, images[:20], tta=True, plain=plain),
                                  predict_probabilities(result.model, images[:20], tta=True))


def test_a_checkpoint_of_other_inputs_is_not_resumed(tmp_path, caplog):
    from xgan.classifier.train import train_classifier

    images, labels = _data()
    config = ClassifierConfig(image_size=32, conv_filters=(4,), dense_units=(4,), batch_size=16, epochs=1)
    train_classifier(config, images, labels, (images[:16], labels[:16]), checkpoint=(tmp_path / "state.npz", "first inputs"))
    assert read_checkpoint(tmp_path / "state.npz", "other inputs") is None
    assert "made for other options or another training set" in caplog.text


def test_a_stopped_model_trains_no_further_epoch_on_resume(tmp_path):
    from xgan.classifier.train import train_classifier

    images, labels = _data()
    config = ClassifierConfig(image_size=32, conv_filters=(4,), dense_units=(4,), batch_size=16, epochs=6, patience=0)
    first = train_classifier(config, images, labels, (images[:16], labels[:16]), checkpoint=(tmp_path / "state.npz", "f"))
    assert len(first.history) < 6  # patience 0: stopped at the first epoch without improvement
    again = train_classifier(config, images, labels, (images[:16], labels[:16]), checkpoint=(tmp_path / "state.npz", "f"))
    assert again.history == first.history and again.best_epoch == first.best_epoch
    for mine, theirs in zip(first.model.weights, again.model.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


TINY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tiny"
OPTIONS = ("--data", str(TINY), "--size", "32", "--epochs", "3", "--patience", "10", "--compare", "--arms", "baseline,class_weights",
           "--seeds", "2", "--no-shift-suite", "--workers", "2")


def _xgan(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xgan.cli", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    process = _xgan("classify", *OPTIONS, "--out", out)
    output, _ = process.communicate(timeout=1200)
    assert process.returncode == 0, output
    (run,) = out.iterdir()
    return run


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_classify_side_by_side_killed_then_resumed_gives_an_uninterrupted_runs_results(tmp_path, uninterrupted, sig):
    """--workers 2, interrupted once a model has finished and another has the checkpoint of an epoch (events, not a
    sleep): --resume reads the finished model back without training it again, continues the others from their last
    epoch, and ends with every model's predictions and the report of a run never interrupted."""
    process = _xgan("classify", *OPTIONS, "--out", tmp_path)
    deadline = time.monotonic() + 900
    while not (list(tmp_path.glob(f"*/arms/*/seed*/{FINISHED_RECORD}")) and list(tmp_path.glob(f"*/arms/*/seed*/{CHECKPOINT_FILE}"))):
        assert process.poll() is None, "the run ended before the drill's moment:\n" + process.stdout.read()
        assert time.monotonic() < deadline, "no finished model beside a checkpoint after 900 s"
        time.sleep(0.01)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0, output
    (run,) = tmp_path.iterdir()
    time.sleep(5)  # a SIGKILLed parent's workers get SIGTERM from the kernel and unwind
    assert not list(run.rglob(".*.tmp")), "a temporary file was left"
    finished = {path: path.stat().st_mtime_ns for path in run.glob(f"arms/*/seed*/{FINISHED_RECORD}")}
    assert not (run / "report.json").exists() and finished
    resumed = _xgan("classify", *OPTIONS, "--out", tmp_path, "--resume", run)
    output, _ = resumed.communicate(timeout=1200)
    assert resumed.returncode == 0, output
    assert {path: path.stat().st_mtime_ns for path in finished} == finished  # read back, not trained again
    assert not list(run.rglob(CHECKPOINT_FILE))
    for arm in ("baseline", "class_weights"):
        for seed in (0, 1):
            model = Path("arms") / arm / f"seed{seed}"
            for name in ("predictions.csv", "validation_predictions.csv", "history.json"):
                assert (run / model / name).read_bytes() == (uninterrupted / model / name).read_bytes(), model / name
    reports = [json.loads((folder / "report.json").read_text()) for folder in (run, uninterrupted)]
    for key in ("arms", "comparisons"):
        assert _without_timings(reports[0][key]) == _without_timings(reports[1][key]), key


def test_resume_refuses_other_options_and_a_finished_run(tmp_path):
    from xgan.classifier.classify import check_resumable
    from xgan.errors import UserError
    from xgan.runs import write_json

    write_json(tmp_path / "options.json", {"epochs": 3, "workers": 1})
    check_resumable(tmp_path, {"epochs": 3, "workers": 2})  # --workers may change
    with pytest.raises(UserError, match=r"--resume .*: the run was made with epochs 3, not 5; pass the options it was made with"):
        check_resumable(tmp_path, {"epochs": 5, "workers": 1})
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(UserError, match="this run finished; start a new one without --resume"):
        check_resumable(tmp_path, {"epochs": 3})
    with pytest.raises(UserError, match="not a classify run folder"):
        check_resumable(tmp_path / "nothing", {})


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in ("seconds", "run_dir")}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def test_ctrl_c_while_models_train_names_the_resumption_in_one_line(tmp_path, monkeypatch):
    """`xgan classify` interrupted once its run folder exists: exit 2 and one line naming `--resume FOLDER`; the
    same interruption before that folder exists stays a plain interruption (nothing to resume)."""
    from click.testing import CliRunner

    from xgan.classifier import classify as classify_module
    from xgan.cli import cli

    from conftest import make_folder_dataset

    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(classify_module, "run_arm", interrupted)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--size", "16", "--epochs", "1", "--out", str(tmp_path / "runs")])
    (run,) = (tmp_path / "runs").iterdir()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output  # the progress bar's lines come first
    assert result.output.strip().splitlines()[-1:] == [
        f"Error: interrupted; resume with `xgan classify --resume {run}` and the options of the run (finished models are read "
        "back, the others continue from their last epoch)"]
    monkeypatch.setattr(classify_module, "prepare_experiment", interrupted)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--size", "16", "--epochs", "1", "--out", str(tmp_path / "more")])
    assert result.exit_code == 1 and "resume" not in result.output and not (tmp_path / "more").exists()
