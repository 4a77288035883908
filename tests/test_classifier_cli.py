"""`xgan classify`, `evaluate` and `predict` through the command line: a tiny run of every arm, and the errors."""

import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.datasets.splits import resolve_splits

from conftest import make_folder_dataset, synthetic_xray
from test_classifier_data import make_synthetic_folder

TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16"]


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    """One `classify --compare` of all five arms, one seed, one epoch, 16 px: shared by the tests below."""
    root = tmp_path_factory.mktemp("classify")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    dataset = load_dataset(data)
    splits = resolve_splits(dataset)
    counts = dataset.class_counts(set(splits.keys("train")))
    synthetic, _ = make_synthetic_folder(root, dataset, splits, "covid", counts["normal"] - counts["covid"], size=16)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--compare", "--seeds", "1", "--synthetic", str(synthetic),
                                      "--arms", "classic,oversample,class_weights,gan", "--out", str(root / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    run_dir = next((root / "samples").iterdir())
    return {"root": root, "data": data, "splits": splits, "run_dir": run_dir, "output": result.output}


def test_compare_writes_every_arm_and_the_report(compare_run):
    run_dir = compare_run["run_dir"]
    assert run_dir.name == "00000-classify-compare"
    report = json.loads((run_dir / "report.json").read_text())
    assert list(report["arms"]) == ["baseline", "classic", "oversample", "class_weights", "gan"]
    assert set(report["comparisons"]) == {"classic", "oversample", "class_weights", "gan"}
    gan = report["comparisons"]["gan"]
    assert set(gan["differences"]["balanced_accuracy"]) >= {"difference", "low", "high"}
    assert "p_value" in gan["mcnemar"]["ensemble"]
    assert report["arms"]["gan"]["training_set"]["covid"]["synthetic"] > 0
    markdown = (run_dir / "report.md").read_text()
    assert "## Paired differences" in markdown and "McNemar" in markdown
    assert "| gan | oversample | **balanced accuracy (primary)** |" in markdown  # the GAN must beat oversampling, not just the baseline
    assert report["primary_metric"] == "balanced_accuracy" and report["comparisons"]["gan"]["primary_verdict"]
    assert set(report["arms"]["gan"]["ensemble"]["metrics"]) >= {"accuracy", "roc_auc"}
    assert set(report["gan_vs_oversample"]["verdicts"]) == set(gan["verdicts"])
    for name in ("training_curves.png", "roc_curves.png", "confusion_matrices.png"):
        assert (run_dir / name).stat().st_size > 1000
    model_dir = run_dir / "arms" / "gan" / "seed0"
    assert {"model.keras", "config.json", "history.json", "metrics.json", "predictions.csv"} <= {p.name for p in model_dir.iterdir()}
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["image_size"], config["class_names"], config["positive_class"]) == (16, ["covid", "normal"], "covid")
    assert config["decision_threshold"]["fitted_on"] == "validation" and config["decision_threshold"]["method"] == "youden"
    assert config["decision_threshold"]["num_images"] == len(compare_run["splits"].keys("val"))
    assert (model_dir / "validation_predictions.csv").is_file()
    assert "gan" in compare_run["output"] and "run folder" in compare_run["output"]


def test_every_scored_image_is_a_real_test_image(compare_run):
    splits = compare_run["splits"]
    for predictions in compare_run["run_dir"].glob("arms/*/seed*/predictions.csv"):
        with open(predictions, newline="") as handle:
            keys = [row["key"] for row in csv.DictReader(handle)]
        assert keys == splits.keys("test")  # dataset keys of the test split only: no synthetic file, no training image


def test_evaluate_on_a_separate_folder_and_predict(compare_run, tmp_path):
    model = compare_run["run_dir"] / "arms" / "baseline" / "seed0"
    other = make_folder_dataset(tmp_path / "other", {"covid": 3, "normal": 5}, size=24, seed=7)
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", "--model", str(model), "--data", str(other), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "balanced accuracy" in result.output and "sensitivity" in result.output and "precision" in result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_images"] == 8 and metrics["num_excluded_seen"] == 0
    image = other / "covid" / "covid_000.png"
    result = runner.invoke(cli, ["predict", "--model", str(model), str(image), str(image)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    called, probability = lines[0].split()[1], float(lines[0].split()[2])
    # Called at the threshold stored with the model, not at 0.5; the probability printed is the called class's.
    threshold = json.loads((model / "config.json").read_text())["decision_threshold"]["threshold"]
    covid_probability = probability if called == "covid" else 1 - probability
    assert called == ("covid" if covid_probability >= threshold - 1e-3 else "normal")


def test_evaluate_leaves_out_the_images_the_model_trained_on(compare_run, tmp_path):
    model = compare_run["run_dir"] / "arms" / "baseline" / "seed0"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(compare_run["data"]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    splits = compare_run["splits"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_excluded_seen"] == len(splits.keys("train")) + len(splits.keys("val"))
    assert metrics["num_images"] == len(splits.keys("test"))


def test_predict_a_bad_path_is_one_line(compare_run, tmp_path):
    model = compare_run["run_dir"] / "arms" / "baseline" / "seed0"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    for path, match in ((tmp_path / "missing.png", "no such image file"), (broken, "not a readable image")):
        result = CliRunner().invoke(cli, ["predict", "--model", str(model), str(path)])
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and match in result.output and str(path) in result.output


@pytest.mark.parametrize("arguments, match", [
    (["--with-gan"], "--with-gan needs synthetic images of class 'covid': found no `xgan sample` output for it"),
    (["--positive", "pneumonia"], "argument `positive`. Expected one of covid, normal"),
    (["--ratio", "3:1"], "argument `ratio`"),
    (["--manifest", "missing.csv"], "are used with --with-gan"),
    (["--with-gan", "--manifest", "missing.csv"], "no such training manifest"),
])
def test_classify_errors_are_one_line_exit_2(folder_dataset, tmp_path, arguments, match):
    out = tmp_path / "samples"
    result = CliRunner().invoke(cli, ["classify", "--data", str(folder_dataset), "--out", str(out), *TINY, *arguments])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and match in result.output
    assert not out.exists()  # no run folder before the input was checked


def test_with_gan_alone_uses_the_latest_sample_output_of_the_dataset_and_class(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 28}, size=16)
    dataset = load_dataset(data)
    splits = resolve_splits(dataset)
    samples = tmp_path / "samples"
    older, _ = make_synthetic_folder(samples / "00000-gan-covid", dataset, splits, "covid", 4, size=16)
    newer, _ = make_synthetic_folder(samples / "00001-gan-covid", dataset, splits, "covid", 20, size=16)
    other_class, _ = make_synthetic_folder(samples / "00002-gan-normal", dataset, splits, "normal", 4, size=16)
    os.utime(older / "manifest.csv", ns=(1, 1))  # whatever the file system's clock resolution
    os.utime(other_class / "manifest.csv", ns=(2 * 10**18, 2 * 10**18))  # newest, but of the class that needs none
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--with-gan", "--out", str(samples), *TINY])
    assert result.exit_code == 0, result.output
    assert f"GAN images: {newer} (the latest `xgan sample` output for this dataset and class under {samples})" in result.output
    options = json.loads(next(samples.glob("*-classify-gan/options.json")).read_text())
    assert options["synthetic"] == [str(newer)]


@pytest.mark.parametrize("arguments, match", [
    (["--model", "nowhere"], "no classifier here"),
])
def test_evaluate_errors_are_one_line_exit_2(folder_dataset, arguments, match):
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(folder_dataset), *arguments])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and match in result.output


def test_evaluate_refuses_a_class_the_model_does_not_know(compare_run, tmp_path):
    other = make_folder_dataset(tmp_path / "other", {"covid": 2, "pneumonia": 2}, size=16)
    model = compare_run["run_dir"] / "arms" / "baseline" / "seed0"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(other)])
    assert result.exit_code == 2 and "class 'pneumonia' is not one the model knows" in result.output


def test_evaluate_an_npz_with_test_keys_only(compare_run, tmp_path):
    rng = np.random.default_rng(5)
    images = np.stack([synthetic_xray(rng, 20, bright=i < 3) for i in range(8)])
    path = tmp_path / "held_out.npz"
    np.savez(path, test_images=images, test_labels=np.array([0] * 3 + [1] * 5)[:, None])
    model = compare_run["run_dir"] / "arms" / "class_weights" / "seed0"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(path), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert (metrics["num_images"], metrics["num_positive"]) == (8, 3)  # label 0 read as the model's first class, covid


def test_classify_refuses_a_manifest_of_another_dataset(folder_dataset, tmp_path):
    from xgan.balance import TrainingRow, write_training_manifest

    dataset = load_dataset(folder_dataset)
    splits = resolve_splits(dataset)
    labels = {r.key: r.label for r in dataset.records}
    manifest = tmp_path / "balanced.csv"
    write_training_manifest(manifest, [TrainingRow(None, key, labels[key], "real") for key in splits.keys("train")])
    (tmp_path / "balanced.json").write_text(json.dumps({"dataset_fingerprint": "0123456789abcdef"}))
    result = CliRunner().invoke(cli, ["classify", "--data", str(folder_dataset), "--with-gan", "--manifest", str(manifest),
                                      "--out", str(tmp_path / "samples"), *TINY])
    assert result.exit_code == 2 and "made from dataset fingerprint 0123456789abcdef" in result.output
