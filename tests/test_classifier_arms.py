"""The arm registry: one `Arm` record per arm, read by every path; a made-up arm is one entry and its builder."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from xgan.balance import read_synthetic_folder
from xgan.classifier import arms
from xgan.classifier.arms import ARMS, Arm, study_arm_names, training_set, uses_synthetic
from xgan.classifier.classify import ClassifyConfig, Experiment
from xgan.classifier.data import LabeledImages, split_images
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.datasets.images import read_gray, resize_square
from xgan.datasets.splits import resolve_splits
from xgan.errors import UserError

from conftest import make_folder_dataset
from test_classifier_data import make_synthetic_folder

MADE_UP = "gan_every_image"
TINY = ["--size", "16", "--epochs", "1", "--batch-size", "16", "--seeds", "1"]


def every_synthetic_image(config, experiment, seed, curation=None) -> LabeledImages:
    """The made-up arm's builder: the real training split plus every image of the --synthetic folders, unbalanced.

    It checks nothing itself: the registry's path must refuse a GAN that read held-out images.
    """
    images = [image for folder in config.synthetic for image in read_synthetic_folder(folder).images]
    size = experiment.dataset.images.shape[1]
    pixels = np.stack([resize_square(read_gray(image.path), size) for image in images])
    train = experiment.train
    return LabeledImages(np.concatenate([np.asarray(train.images), pixels]), train.labels + [image.label for image in images],
                         train.keys + [None] * len(images), train.origins + ["synthetic"] * len(images),
                         sorted({image.run for image in images}))


@pytest.fixture
def made_up_arm(monkeypatch):
    """One registry entry and its builder: all that adding an arm takes."""
    arm = Arm(MADE_UP, "every synthetic image: the real training split plus all the --synthetic folders hold",
              every_synthetic_image, needs_synthetic=True)
    monkeypatch.setitem(ARMS, MADE_UP, arm)
    return arm


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """12 covid / 28 normal 16 px images, a synthetic covid folder, and one whose GAN read a test image."""
    root = tmp_path_factory.mktemp("arms")
    data = make_folder_dataset(root / "xrays", {"covid": 12, "normal": 28}, size=16)
    dataset = load_dataset(data, 16)
    splits = resolve_splits(dataset)
    covid, _ = make_synthetic_folder(root / "covid", dataset, splits, "covid", 20, size=16)
    leaked, _ = make_synthetic_folder(root / "leaked", dataset, splits, "covid", 20, size=16, leak_key=splits.keys("test")[0])
    return {"root": root, "data": data, "dataset": dataset, "splits": splits, "covid": covid, "leaked": leaked}


def test_every_arm_is_one_record_named_as_its_key():
    assert list(ARMS) == ["baseline", "classic", "oversample", "class_weights", "gan", "gan_capped", "gan_equal",
                          "gan_finetune", "gan_class_weights", "gan_curated"]
    assert all(name == arm.name and arm.description and callable(arm.build) for name, arm in ARMS.items())
    assert [name for name in ARMS if uses_synthetic(name)] == [name for name in ARMS if name.startswith("gan")]
    assert study_arm_names() == ("baseline", "classic", "oversample", "class_weights", "gan")
    assert [name for name, arm in ARMS.items() if arm.mixes_synthetic] == ["gan_capped", "gan_equal", "gan_curated"]
    assert [name for name, arm in ARMS.items() if arm.curated_by_baseline] == ["gan_curated"]


def test_an_unknown_arm_is_refused_by_name():
    with pytest.raises(ValueError, match=r"argument `arm`. Expected one of baseline, .*Received: arm='gan_best'"):
        arms.get_arm("gan_best")


def test_a_made_up_arm_is_listed_by_arms_help(made_up_arm):
    result = CliRunner().invoke(cli, ["classify", "--help"], terminal_width=1000)
    assert result.exit_code == 0
    assert f"gan_curated, {MADE_UP} [default: every arm the inputs allow]" in result.output


def test_a_made_up_arm_is_chosen_and_checked_like_the_others(made_up_arm, setup, tmp_path):
    with_synthetic = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16)
    assert with_synthetic.arms[-1] == MADE_UP  # every arm the inputs allow
    assert MADE_UP not in ClassifyConfig(data=setup["data"], compare=True, size=16).arms  # needs synthetic images
    assert ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["covid"],), size=16,
                          arm_names=(MADE_UP,)).arms == ["baseline", MADE_UP]
    with pytest.raises(UserError, match=f"arm {MADE_UP} needs synthetic images"):
        ClassifyConfig(data=setup["data"], compare=True, size=16, arm_names=(MADE_UP,))
    assert MADE_UP not in study_arm_names()


def test_a_made_up_arm_refuses_a_gan_that_read_a_test_image(made_up_arm, setup, tmp_path):
    dataset, splits = setup["dataset"], setup["splits"]
    experiment = Experiment(dataset, splits, "covid", split_images(dataset, splits, "train"), split_images(dataset, splits, "val"),
                            split_images(dataset, splits, "test"))
    config = ClassifyConfig(data=setup["data"], compare=True, synthetic=(setup["leaked"],), size=16, arm_names=(MADE_UP,))
    with pytest.raises(UserError, match="the GAN read 1 image.* of the test split"):
        training_set(MADE_UP, config, experiment, 0)
    # Through the command: refused before anything trains, and no run folder is made.
    result = CliRunner().invoke(cli, ["classify", "--data", str(setup["data"]), "--compare", "--arms", MADE_UP,
                                      "--synthetic", str(setup["leaked"]), "--out", str(tmp_path / "samples"), *TINY])
    assert result.exit_code == 2 and "of the test split" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "samples").exists()


@pytest.mark.slow  # two models through the CLI
def test_a_made_up_arm_is_trained_compared_and_described_in_the_report(made_up_arm, setup, tmp_path):
    result = CliRunner().invoke(cli, ["classify", "--data", str(setup["data"]), "--compare", "--arms", MADE_UP,
                                      "--synthetic", str(setup["covid"]), "--out", str(tmp_path / "samples"), *TINY])
    assert result.exit_code == 0, result.output
    assert MADE_UP in result.output
    run_dir = next((tmp_path / "samples").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert list(report["arms"]) == ["baseline", MADE_UP]
    record = report["arms"][MADE_UP]
    assert record["description"] == made_up_arm.description
    assert record["training_set"]["covid"]["synthetic"] == 20 and "synthetic" not in record["training_set"]["normal"]
    assert "synthetic_vs_real" in record and MADE_UP in report["comparisons"]
    assert report["best_gan_vs_best_other"]["arm"] == MADE_UP  # the registry says it trains on synthetic images
    assert report["synthetic_folders"] == [str(setup["covid"])]
    assert f"| {MADE_UP} | {made_up_arm.description} | covid" in (run_dir / "report.md").read_text()
    config = json.loads((run_dir / "arms" / MADE_UP / "seed0" / "config.json").read_text())
    assert config["arm"] == MADE_UP and config["arm_description"] == made_up_arm.description
