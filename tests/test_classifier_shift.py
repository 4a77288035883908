"""The comparison's shift suite: corrupted copies of the test split, every model scored on them at its stored threshold."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.classifier.classify import ClassifyConfig
from xgan.classifier.metrics import METRICS, batched_metric, paired_bootstrap, paired_bootstrap_over_copies
from xgan.classifier.shift import SUITE_SEVERITIES, copy_metrics, suite_copies, summarize_copies
from xgan.cli import cli
from xgan.measures.corruptions import CORRUPTIONS, corrupt

from conftest import make_folder_dataset

TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16"]


def test_suite_copies_are_every_corruption_at_the_suites_severities():
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    keys, copies = suite_copies(images, seed=2)
    assert keys == [(name, s) for name in CORRUPTIONS for s in SUITE_SEVERITIES]
    assert copies.shape == (len(keys), 3, 16, 16)
    np.testing.assert_array_equal(copies[keys.index(("shot_noise", 3))], corrupt(images, "shot_noise", 3, seed=2))


def test_summarize_copies_averages_severities_then_corruptions():
    keys = [("blur", 1), ("blur", 5), ("zoom", 1), ("zoom", 5)]
    values = {"balanced_accuracy": np.array([0.9, 0.7, 0.8, 0.4]), "roc_auc": np.array([1.0, 1.0, 0.9, 0.9])}
    record = summarize_copies(keys, values, {"balanced_accuracy": 0.95, "roc_auc": 1.0})
    assert record["per_corruption"]["blur"]["balanced_accuracy"] == pytest.approx(0.8)
    assert record["per_corruption"]["zoom"]["balanced_accuracy"] == pytest.approx(0.6)
    assert record["mean"]["balanced_accuracy"] == pytest.approx(0.7) and record["drop"]["balanced_accuracy"] == pytest.approx(0.25)
    assert record["per_severity"]["zoom"]["5"]["balanced_accuracy"] == pytest.approx(0.4)
    assert record["drop"]["roc_auc"] == pytest.approx(0.05)


def test_copy_metrics_score_each_copy_at_the_threshold_or_the_top_class():
    y_true = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.2, 0.7, 0.4, 0.1], [0.6, 0.7, 0.9, 0.1]])
    values = copy_metrics(y_true, probabilities, 0.5)
    assert set(values) == set(METRICS)
    np.testing.assert_allclose(values["sensitivity"], [0.5, 1.0])
    np.testing.assert_allclose(values["specificity"], [1.0, 0.5])
    softmax = np.array([[[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1]]])
    np.testing.assert_allclose(copy_metrics(y_true, softmax, None)["accuracy"], [1.0])


def test_the_bootstrap_over_copies_averages_the_copies_and_draws_an_images_copies_together():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 80)
    arm, baseline = rng.random((3, 4, 80)), rng.random((3, 4, 80))
    result = paired_bootstrap_over_copies(y_true, arm, baseline, "balanced_accuracy", num_resamples=200)
    expected = np.mean([batched_metric("balanced_accuracy", y_true, arm[:, c], 0.5) - batched_metric("balanced_accuracy", y_true, baseline[:, c], 0.5)
                        for c in range(4)])
    assert result["difference"] == pytest.approx(expected)
    one = paired_bootstrap_over_copies(y_true, arm[:, :1], baseline[:, :1], "balanced_accuracy", num_resamples=200)
    plain = paired_bootstrap(y_true, arm[:, 0], baseline[:, 0], "balanced_accuracy", num_resamples=200)
    assert (one["low"], one["high"]) == (plain["low"], plain["high"])  # one copy: the plain bootstrap, draw for draw
    with pytest.raises(ValueError, match="Expected \\(seeds, copies, 80\\)"):
        paired_bootstrap_over_copies(y_true, arm[0], baseline[0], "balanced_accuracy")


def test_the_shift_suite_is_an_option_kept_in_the_run_options():
    assert ClassifyConfig().shift_suite is True
    assert ClassifyConfig(compare=True, shift_suite=False).to_dict()["shift_suite"] is False


@pytest.fixture(scope="module")
def shift_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("shift")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--compare", "--seeds", "2", "--arms", "class_weights",
                                      "--out", str(root / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    return {"run_dir": next((root / "samples").iterdir()), "output": result.output}


@pytest.mark.slow
def test_every_model_is_scored_on_every_copy_at_its_stored_threshold(shift_run):
    from xgan.classifier.saving import load_classifier
    from xgan.classifier.train import predict_probabilities
    from xgan.datasets.dataset import load_dataset

    run_dir = shift_run["run_dir"]
    report = json.loads((run_dir / "report.json").read_text())
    shift = report["shift_suite"]
    assert set(shift["arms"]) == {"baseline", "class_weights"} and shift["num_copies"] == len(CORRUPTIONS) * len(SUITE_SEVERITIES)
    assert "not an external validation" in shift["note"]
    # By hand: seed 1 of class_weights on the harshest gamma_up copy, at the threshold stored with the model.
    options = json.loads((run_dir / "options.json").read_text())
    from xgan.datasets.splits import resolve_splits
    from xgan.classifier.data import split_images

    dataset = load_dataset(options["data"], 16)
    test = split_images(dataset, resolve_splits(dataset, options["splits_file"]), "test")
    y_true = test.targets("covid")
    model_dir = run_dir / "arms" / "class_weights" / "seed1"
    threshold = json.loads((model_dir / "config.json").read_text())["decision_threshold"]["threshold"]
    scores = predict_probabilities(load_classifier(model_dir), corrupt(test.images, "gamma_up", 5, seed=0))
    run = shift["arms"]["class_weights"]["runs"][1]
    assert run["seed"] == 1 and run["threshold"] == threshold
    assert run["per_severity"]["gamma_up"]["5"]["balanced_accuracy"] == pytest.approx(float(batched_metric("balanced_accuracy", y_true, scores, threshold)))
    clean = report["arms"]["class_weights"]["runs"][1]["metrics"]["balanced_accuracy"]
    assert run["drop"]["balanced_accuracy"] == pytest.approx(clean - run["mean"]["balanced_accuracy"])
    comparison = shift["comparisons"]["class_weights"]
    assert comparison["verdict"] in ("better", "worse", "within noise") and comparison["family_size"] == 1
    assert comparison["thresholds_resampled"]
    markdown = (run_dir / "report.md").read_text()
    assert "## Shift suite: corrupted copies of the test split (a proxy, not an external validation)" in markdown
    assert "**This is a proxy, not an external validation.**" in markdown
    assert "| gamma_up | another gradation curve: darker mid-tones | 1.1 | 1.3 | 1.6 |" in markdown
    assert "| class_weights | " in markdown.split("Paired against the baseline arm, balanced accuracy averaged over every copy")[1]
    assert "shift suite (48 corrupted copies of the test split; a proxy, not an external validation)" in shift_run["output"]
    assert (run_dir / "reliability.png").is_file()


def test_a_model_scores_the_same_copies_kept_or_made_one_at_a_time(monkeypatch):
    """A worker keeps the suite's copies to score its models on only while they fit KEEP_COPIES_BYTES; past that (a large
    test split: 48 copies of 4,500 images of 64 px are 0.9 GB) each copy is made, scored and let go in turn, alike."""
    from xgan.classifier import shift, train

    images = np.random.default_rng(3).integers(0, 256, (6, 16, 16), dtype=np.uint8)
    monkeypatch.setattr(train, "predict_probabilities", lambda model, copy, tta=False: copy.reshape(len(copy), -1).mean(axis=1) / 255)
    kept = shift.keep_copies(images, seed=1)
    assert len(kept) == len(shift.suite_keys())
    held = shift.shift_scores(None, images, seed=1, kept=kept)
    assert held.shape == (len(kept), 6)
    np.testing.assert_array_equal(shift.shift_scores(None, images, seed=1), held)
    monkeypatch.setattr(shift, "KEEP_COPIES_BYTES", len(kept) * images.nbytes - 1)
    assert shift.keep_copies(images, seed=1) is None
