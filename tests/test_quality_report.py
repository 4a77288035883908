"""The quality report end to end on a folder of synthetic images (pixel features: no TensorFlow)."""

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_folder_dataset, synthetic_xray
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.quality import QualityConfig, run_quality
from xgan.quality.report import describe_precision_recall, describe_two_sample, format_markdown
from xgan.datasets.splits import resolve_splits


@pytest.fixture
def dataset_and_training_images(tmp_path):
    root = make_folder_dataset(tmp_path / "xrays", {"covid": 20, "normal": 40},
                               patients_per_class={"covid": 8, "normal": 20})
    dataset = load_dataset(root, 32)
    splits = resolve_splits(dataset)
    keys = [k for k in splits.keys("train") if k.startswith("covid/")]
    return root, dataset.images[dataset.select(keys)], keys


def write_synthetic_folder(folder, images, label="covid"):
    folder.mkdir(parents=True)
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label"])
        writer.writeheader()
        for index, image in enumerate(images):
            cv2.imwrite(str(folder / f"img_{index:03d}.png"), image)
            writer.writerow({"file": f"img_{index:03d}.png", "label": label})
    return folder


def test_report_flags_copies_and_writes_every_file(tmp_path, dataset_and_training_images):
    root, training_images, keys = dataset_and_training_images
    rng = np.random.default_rng(7)
    new_images = [synthetic_xray(rng, 32, bright=True) for _ in range(13)]
    folder = write_synthetic_folder(tmp_path / "synthetic", [*training_images[:3], *new_images])
    outcome = run_quality(QualityConfig(synthetic=str(folder), data=str(root), features=("pixels",)))
    assert outcome.out_dir == folder / "quality"
    names = sorted(path.name for path in outcome.files)
    assert names == ["closest_pairs.png", "feature_spaces.png", "nearest_correlation.png", "quality.json",
                     "quality.md", "samples.png"]
    assert all(path.stat().st_size > 0 for path in outcome.files)
    report = json.loads((outcome.out_dir / "quality.json").read_text())
    memorization = report["memorization"]
    assert memorization["num_near_copies"] == 3
    assert {copy["training_key"] for copy in memorization["near_copies"]} == set(keys[:3])
    assert {copy["synthetic_name"] for copy in memorization["near_copies"]} == {"img_000.png", "img_001.png", "img_002.png"}
    assert report["reference"]["num_train"] == len(keys) and report["reference"]["class_name"] == "covid"
    assert "training split" in report["reference"]["note"]
    pixels = report["features"]["pixels16"]
    assert pixels["frechet_distance"]["biased"] is True
    assert set(pixels["kid"]) >= {"mean", "std", "subset_size", "num_subsets"}
    assert any("nearly copy" in warning for warning in outcome.warnings)
    markdown = (outcome.out_dir / "quality.md").read_text()
    assert "WARNING" in markdown and "img_000.png" in markdown and "![closest_pairs.png]" in markdown


def test_report_of_unrelated_images_has_no_copy_warning(tmp_path, dataset_and_training_images):
    root, _, _ = dataset_and_training_images
    rng = np.random.default_rng(8)
    folder = write_synthetic_folder(tmp_path / "synthetic", [synthetic_xray(rng, 32, bright=True) for _ in range(16)])
    outcome = run_quality(QualityConfig(synthetic=str(folder), data=str(root), features=("pixels",),
                                        out=str(tmp_path / "report")))
    report = json.loads((tmp_path / "report" / "quality.json").read_text())
    assert report["memorization"]["num_near_copies"] == 0
    assert not any("nearly copy" in warning for warning in outcome.warnings)


def test_existing_report_is_not_overwritten_without_the_flag(tmp_path, dataset_and_training_images):
    root, training_images, _ = dataset_and_training_images
    folder = write_synthetic_folder(tmp_path / "synthetic", training_images[:12])
    config = dict(synthetic=str(folder), data=str(root), features=("pixels",))
    run_quality(QualityConfig(**config, kid_subsets=10))
    with pytest.raises(UserError, match="a report is already there; pass --overwrite"):
        run_quality(QualityConfig(**config, kid_subsets=10))
    run_quality(QualityConfig(**config, kid_subsets=10, overwrite=True))


def test_synthetic_folder_of_another_dataset_is_refused(tmp_path, dataset_and_training_images):
    root, training_images, _ = dataset_and_training_images
    folder = tmp_path / "synthetic"
    folder.mkdir()
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "dataset_fingerprint"])
        for index, image in enumerate(training_images[:12]):
            cv2.imwrite(str(folder / f"{index}.png"), image)
            writer.writerow([f"{index}.png", "covid", "0123456789abcdef"])
    with pytest.raises(UserError, match="fingerprint 0123456789abcdef; pass the GAN's dataset with --data"):
        run_quality(QualityConfig(synthetic=str(folder), data=str(root), features=("pixels",)))


def test_mixed_image_sizes_are_refused(tmp_path, dataset_and_training_images):
    root, training_images, _ = dataset_and_training_images
    folder = tmp_path / "synthetic"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), training_images[0])
    cv2.imwrite(str(folder / "b.png"), cv2.resize(training_images[1], (16, 16)))
    with pytest.raises(UserError, match="expected one square size"):
        run_quality(QualityConfig(synthetic=str(folder), data=str(root), class_name="covid", features=("pixels",)))


@pytest.mark.parametrize("kwargs, match", [
    ({}, "`run`"),
    ({"synthetic": "s", "features": ("inception",)}, "never downloads"),
    ({"synthetic": "s", "features": ("colour",)}, "`features`"),
    ({"synthetic": "s", "checkpoints": "all"}, "`checkpoints`"),
    ({"synthetic": "s", "copy_threshold": 1.5}, "copy_threshold=1.5"),
    ({"run": "r", "num_images": 5}, "num_images=5"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QualityConfig(**kwargs)


def test_config_adds_inception_when_weights_are_given():
    assert QualityConfig(run="r", inception_weights="w.h5").features == ("classifier", "pixels", "inception")


@pytest.mark.parametrize("auc, low, high, words", [
    (0.52, 0.40, 0.64, "not distinguishable from chance"),
    (0.80, 0.70, 0.90, "distinguishable"),
    (0.99, 0.97, 1.00, "almost perfectly separable"),
])
def test_two_sample_description(auc, low, high, words):
    assert words in describe_two_sample({"auc": auc, "auc_ci_low": low, "auc_ci_high": high})


def test_low_recall_is_called_mode_collapse():
    assert "mode collapse" in describe_precision_recall({"precision": 0.9, "recall": 0.05}, None)
    assert "mode collapse" not in describe_precision_recall({"precision": 0.9, "recall": 0.6}, None)


def test_cli_writes_the_report(tmp_path, dataset_and_training_images):
    root, training_images, _ = dataset_and_training_images
    folder = write_synthetic_folder(tmp_path / "synthetic", training_images[:12])
    result = CliRunner().invoke(cli, ["quality", "--synthetic", str(folder), "--data", str(root),
                                      "--features", "pixels", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "memorization: 12 near copies" in result.output
    assert "WARNING: 12 of 12 synthetic images" in result.output
    assert (tmp_path / "report" / "quality.md").is_file()


@pytest.mark.parametrize("arguments, match", [
    ([], "Expected a GAN run folder"),
    (["--synthetic", "missing-folder"], "does not exist"),
    (["--synthetic", "."], "never downloads"),  # needs the folder to exist; fails on the config
    (["--run", ".", "--num-images", "3"], "3 is not in the range x>=10"),
    (["--run", ".", "--copy-threshold", "0"], "0<x<=1"),
    (["--run", ".", "--features", "colour"], "'colour' is not one of"),
])
def test_cli_usage_errors(tmp_path, monkeypatch, arguments, match):
    monkeypatch.chdir(tmp_path)
    if "never downloads" in match:
        arguments = [*arguments, "--features", "inception"]
    result = CliRunner().invoke(cli, ["quality", *arguments])
    assert result.exit_code == 2
    assert match in result.output


def test_cli_user_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["quality", "--run", "empty"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: empty: no config.json; expected a GAN run folder written by `xgan train` (e.g. samples/00000-gan-covid)"
    result = CliRunner().invoke(cli, ["quality", "--synthetic", "empty", "--class", "covid"])
    assert result.exit_code == 2 and "no synthetic images" in result.output


def test_markdown_names_the_reference_and_the_bias():
    report = {
        "synthetic": {"source": "run", "num_images": 10, "run": "samples/00000-gan-covid", "checkpoint": "snapshot_000050",
                      "checkpoint_step": 50, "seed": 0},
        "reference": {"class_name": "covid", "note": "the 32 real 'covid' images the GAN read", "dataset": "d",
                      "fingerprint": "f", "image_size": 64, "num_val": 7},
        "primary_features": "pixels16",
        "features": {"pixels16": {
            "dimension": 256, "description": "pixels", "notes": [],
            "kid": {"mean": 0.01, "std": 0.001, "subset_size": 10, "num_subsets": 100},
            "frechet_distance": {"value": 3.0, "biased": True},
            "precision_recall": {"precision": 0.5, "recall": 0.1, "density": 0.4, "coverage": 0.3},
            "two_sample": {"auc": 0.9, "auc_ci_low": 0.8, "auc_ci_high": 1.0}, "val": None}},
        "memorization": {"num_near_copies": 0, "num_synthetic": 10, "share_near_copies": 0.0, "threshold": 0.95,
                         "max_correlation": 0.8, "median_correlation": 0.7, "num_real_training": 32,
                         "real_vs_real_nearest_correlation": {"median": 0.6, "p99": 0.97, "max": 0.98},
                         "share_above_real_max": 0.0, "num_distinct_nearest_training_images": 5, "near_copies": []},
        "warnings": [], "figures": ["closest_pairs.png"], "config": {"neighbours": 3},
    }
    markdown = format_markdown(report)
    assert "checkpoint `snapshot_000050` (step 50)" in markdown
    assert "the 32 real 'covid' images the GAN read" in markdown
    assert "Fréchet distance (biased)" in markdown
    assert "mode collapse likely" in markdown
    assert "consider a higher --copy-threshold" in markdown  # the real baseline reaches the threshold
