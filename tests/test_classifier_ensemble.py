"""Seed ensembles, test-time augmentation and the validation-chosen threshold, end to end on a tiny dataset."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.classifier import compare as compare_module
from xgan.classifier import ensemble as ensemble_module
from xgan.classifier import threshold as threshold_module
from xgan.classifier.ensemble import find_models, load_ensemble
from xgan.classifier.saving import load_classifier
from xgan.classifier.train import predict_probabilities, run_in_batches
from xgan.classifier.tta import TTA_VIEWS, view
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.datasets.splits import resolve_splits

from conftest import make_folder_dataset

TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    """`xgan classify --seeds 2`: two tiny models of the baseline arm and their ensemble; every threshold choice recorded."""
    root = tmp_path_factory.mktemp("ensemble")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    calls = []
    original = threshold_module.choose_threshold

    def spy(y_true, probability, target_sensitivity=None):
        calls.append(np.asarray(y_true).copy())
        return original(y_true, probability, target_sensitivity)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threshold_module, "choose_threshold", spy)
        patch.setattr(compare_module, "choose_threshold", spy)  # imported by name there
        result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--seeds", "2", "--out", str(root / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    run_dir = next((root / "samples").iterdir())
    dataset = load_dataset(data, 16)
    return {"root": root, "data": data, "run_dir": run_dir, "output": result.output, "calls": calls,
            "dataset": dataset, "splits": resolve_splits(dataset)}


def _column(path, name):
    with open(path, newline="") as handle:
        return [row[name] for row in csv.DictReader(handle)]


def test_seeds_make_a_seed_ensemble_report(seeds_run):
    run_dir = seeds_run["run_dir"]
    assert run_dir.name == "00000-classify-baseline"
    assert {p.name for p in run_dir.glob("seed*")} == {"seed0", "seed1"}
    report = json.loads((run_dir / "report.json").read_text())
    assert [r["seed"] for r in report["runs"]] == [0, 1]
    assert report["ensemble"]["num_models"] == 2 and report["primary_metric"] == "balanced_accuracy"
    assert "ensemble: accuracy" in seeds_run["output"] and "mean ± std" in seeds_run["output"]
    markdown = (run_dir / "report.md").read_text()
    assert "**ensemble** (2 seeds)" in markdown and "## At 0.5" in markdown


def test_the_threshold_is_never_fitted_on_test_images(seeds_run):
    dataset, splits = seeds_run["dataset"], seeds_run["splits"]
    labels = {r.key: r.label for r in dataset.records}
    validation = np.array([labels[k] == "covid" for k in splits.keys("val")], np.int64)
    # Two models x (plain, TTA), then the ensemble's: every call saw the validation split's labels, in its order.
    assert len(seeds_run["calls"]) == 5
    for y_true in seeds_run["calls"]:
        np.testing.assert_array_equal(y_true, validation)
    for seed in ("seed0", "seed1"):
        config = json.loads((seeds_run["run_dir"] / seed / "config.json").read_text())
        assert config["decision_threshold"]["fitted_on"] == "validation"
        assert config["decision_threshold"]["num_images"] == len(splits.keys("val"))
        assert _column(seeds_run["run_dir"] / seed / "validation_predictions.csv", "key") == splits.keys("val")
        assert _column(seeds_run["run_dir"] / seed / "predictions.csv", "key") == splits.keys("test")


def test_evaluate_never_refits_a_single_models_threshold(seeds_run, tmp_path, monkeypatch):
    model = seeds_run["run_dir"] / "seed0"
    refuse = lambda *a, **k: pytest.fail("evaluate fitted a threshold")  # noqa: E731
    monkeypatch.setattr(threshold_module, "choose_threshold", refuse)
    monkeypatch.setattr(ensemble_module, "choose_threshold", refuse)
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(seeds_run["data"]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    stored = json.loads((model / "config.json").read_text())["decision_threshold"]
    assert metrics["threshold"] == stored["threshold"] and metrics["at_threshold_0.5"]["threshold"] == 0.5


def test_ensemble_averages_the_models_probabilities_by_hand(seeds_run, tmp_path):
    run_dir, dataset = seeds_run["run_dir"], seeds_run["dataset"]
    assert find_models([run_dir]) == [(run_dir / s / "model.keras").resolve() for s in ("seed0", "seed1")]
    images = dataset.images[dataset.select(seeds_run["splits"].keys("test"))]
    first, second = (run_in_batches(load_classifier(run_dir / s), images).reshape(-1).astype(np.float64) for s in ("seed0", "seed1"))
    np.testing.assert_allclose(load_ensemble([run_dir]).probabilities(images), (first + second) / 2, rtol=0, atol=1e-12)
    # The ensemble's threshold: chosen on the mean of the two models' stored validation probabilities.
    validation = [np.array(_column(run_dir / s / "validation_predictions.csv", "probability_covid"), float) for s in ("seed0", "seed1")]
    labels = np.array([label == "covid" for label in _column(run_dir / "seed0" / "validation_predictions.csv", "label")], np.int64)
    expected = threshold_module.choose_threshold(labels, (validation[0] + validation[1]) / 2)["threshold"]
    assert load_ensemble([run_dir / "seed0", run_dir / "seed1"]).threshold()["threshold"] == pytest.approx(expected)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["ensemble"]["threshold"]["threshold"] == pytest.approx(expected)
    # The same through the command line, the run folder standing for its seeds.
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run_dir), "--data", str(seeds_run["data"]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_models"] == 2 and metrics["threshold"] == pytest.approx(expected)
    # Or each model named with its own --model.
    models = [arg for s in ("seed0", "seed1") for arg in ("--model", str(run_dir / s))]
    result = CliRunner().invoke(cli, ["evaluate", *models, "--data", str(seeds_run["data"]), "--out", str(tmp_path / "two")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]


def test_without_the_tta_flag_predictions_are_exactly_the_models_own(seeds_run, tmp_path):
    model_dir = seeds_run["run_dir"] / "seed1"
    model = load_classifier(model_dir)
    images = seeds_run["dataset"].images[:9]
    plain = run_in_batches(model, images).reshape(-1).astype(np.float64)
    assert np.array_equal(predict_probabilities(model, images), plain)
    assert np.array_equal(load_ensemble([model_dir]).probabilities(images), plain)
    with_tta = predict_probabilities(model, images, tta=True)
    by_hand = np.mean([run_in_batches(model, view(images, name)).reshape(-1) for name in TTA_VIEWS], axis=0)
    np.testing.assert_allclose(with_tta, by_hand, rtol=1e-6)
    assert not np.array_equal(with_tta, plain)
    image = seeds_run["data"] / "covid" / "covid_000.png"
    outputs = {flag: CliRunner().invoke(cli, ["predict", "--model", str(model_dir), *flag, str(image)]) for flag in ((), ("--tta",))}
    assert all(result.exit_code == 0 for result in outputs.values())
    assert all(len(result.output.strip().splitlines()) == 1 for result in outputs.values())


def test_tta_views_keep_the_anatomy_the_right_way_round():
    image = np.zeros((1, 20, 20), np.uint8)
    image[0, 10, 2] = 200  # a bright pixel near the left edge
    assert view(image, "identity")[0, 10, 2] == 200
    assert view(image, "shift_right")[0, 10, 3] == 200  # shifted by 5 % of 20 px = 1 px, never mirrored
    assert view(image, "shift_left")[0, 10, 1] == 200
    assert set(TTA_VIEWS).isdisjoint({"flip", "flip_left_right", "mirror"})
    with pytest.raises(ValueError, match="Expected one of identity"):
        view(image, "flip")


def test_a_comparison_folder_is_not_averaged_across_arms(tmp_path):
    for arm in ("baseline", "gan"):
        (tmp_path / "arms" / arm / "seed0").mkdir(parents=True)
        (tmp_path / "arms" / arm / "seed0" / "model.keras").write_bytes(b"")
    with pytest.raises(UserError, match="a comparison of 2 arms \\(baseline, gan\\); pass one arm's folder"):
        find_models([tmp_path])
