"""The class-conditional DCGAN: every class read, one preview row per class, exact resume, sampling by class."""

import csv
import json
import signal

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_folder_dataset
from test_gan_train import LogEpoch, SignalAfterEpoch, state
from xgan.cli import cli
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.gan import GanConfig, TrainingStopped, load_generator, resume_gan, sample_to_folder, train_gan
from xgan.gan.conditional_models import build_conditional_generator, build_projection_discriminator
from xgan.datasets.splits import resolve_splits


@pytest.fixture(scope="module")
def xrays(tmp_path_factory):
    """12 covid / 20 normal 32 px images."""
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})


def conditional_config(data, out, **changes):
    values = dict(data=str(data), conditional=True, image_size=32, width=4, latent_dim=8, batch_size=4, epochs=2,
                  preview_every=1, checkpoint_every=1, snapshot_every=1, out=str(out))
    return GanConfig(**(values | changes))


@pytest.fixture(scope="module")
def conditional_run(xrays, tmp_path_factory):
    return train_gan(conditional_config(xrays, tmp_path_factory.mktemp("runs")), callbacks=[LogEpoch()])


def test_networks_take_a_label_and_the_label_changes_the_output():
    generator = build_conditional_generator(32, latent_dim=8, width=4, num_classes=3, seed=0)
    discriminator = build_projection_discriminator(32, width=4, num_classes=3, seed=1)
    latents = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    images = generator([np.concatenate([latents, latents]), np.array([0, 0, 2, 2], np.int32)], training=False).numpy()
    assert images.shape == (4, 32, 32, 1) and np.abs(images).max() <= 1
    assert not np.allclose(images[:2], images[2:])  # same latents, another class
    logits = discriminator([images, np.array([0, 1, 2, 0], np.int32)], training=False).numpy()
    assert logits.shape == (4, 1)
    with pytest.raises(ValueError, match="Expected an integer of at least 2. Received: num_classes=1"):
        build_conditional_generator(32, num_classes=1)


def test_conditional_run_reads_every_training_class_and_previews_one_row_per_class(conditional_run, xrays):
    config = json.loads((conditional_run / "config.json").read_text())
    dataset = load_dataset(xrays)
    splits = resolve_splits(dataset)
    train = sorted(splits.keys("train"))
    assert conditional_run.name == "00000-gan-conditional"
    assert config["conditional"] is True and config["class_name"] is None and config["class_names"] == ["covid", "normal"]
    assert json.loads((conditional_run / "training_keys.json").read_text()) == train
    assert config["class_counts"] == dataset.class_counts(set(train))
    preview = np.asarray(Image.open(conditional_run / "previews" / "epoch_0002.png"))
    assert preview.shape == (2 * 32 + 2, 8 * 32 + 7 * 2)  # 2 rows (classes) of 8 images, 2 px padding


def test_conditional_config_refuses_a_class():
    with pytest.raises(UserError, match=r"Expected none with --conditional.*Received: class_name='covid'"):
        GanConfig(conditional=True, class_name="covid")


def test_conditional_resume_after_a_signal_is_exact(conditional_run, xrays, tmp_path):
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM after epoch 1 of 2"):
        train_gan(conditional_config(xrays, tmp_path), callbacks=[LogEpoch(), SignalAfterEpoch(1, signal.SIGTERM)])
    resumed = resume_gan(parent=tmp_path, callbacks=[LogEpoch()])
    arrays, meta = state(resumed)
    expected, expected_meta = state(conditional_run)
    assert meta["epoch"] == 2 and meta["step"] == expected_meta["step"] and sorted(arrays) == sorted(expected)
    for key in arrays:  # both networks, EMA, optimizer moments and the random state, bit for bit
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)


def test_sample_by_class_writes_the_manifest_with_that_label(conditional_run, tmp_path):
    with pytest.raises(UserError, match="a conditional GAN run draws any of its classes; pass --class, one of covid, normal"):
        sample_to_folder(conditional_run, 3)
    with pytest.raises(UserError, match=r"Expected one of covid, normal. Received: class_name='cat'"):
        sample_to_folder(conditional_run, 3, class_name="cat")
    covid = sample_to_folder(conditional_run, 3, class_name="covid")
    normal = sample_to_folder(conditional_run, 3, tmp_path / "normal", class_name="normal")
    assert covid == conditional_run / "synthetic-covid"
    rows = list(csv.DictReader(open(covid / "manifest.csv")))
    assert [row["label"] for row in rows] == ["covid"] * 3 and rows[0]["checkpoint"] == "epoch_0002"
    assert np.asarray(Image.open(normal / rows[0]["file"])).shape == (32, 32)
    normal_generator, info = load_generator(conditional_run, class_name="normal")
    covid_generator, _ = load_generator(conditional_run, class_name="covid")
    assert info["class_name"] == "normal" and len(normal_generator.inputs) == 1
    latents = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    # The same latents through the two bound generators: the class input alone changes the images.
    assert not np.allclose(normal_generator(latents).numpy(), covid_generator(latents).numpy())


@pytest.mark.slow
def test_cli_trains_a_conditional_run_and_samples_a_class(xrays, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--data", str(xrays), "--conditional", "--size", "32", "--width", "4",
                                 "--latent-dim", "8", "--batch-size", "4", "--epochs", "1", "--kid-every", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "conditional on every class" in result.output and "--class covid" in result.output
    run_dir = tmp_path / "00000-gan-conditional"
    assert "kid" in json.loads((run_dir / "history.json").read_text())[-1]
    result = runner.invoke(cli, ["sample", "--run", str(run_dir), "--n", "2"])
    assert result.exit_code == 2 and "pass --class" in result.output
    result = runner.invoke(cli, ["sample", "--run", str(run_dir), "--n", "2", "--class", "normal"])
    assert result.exit_code == 0 and (run_dir / "synthetic-normal" / "manifest.csv").is_file()


def test_quality_of_one_class_of_a_conditional_run(conditional_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["quality", "--run", str(conditional_run), "--class", "normal", "--num-images", "16",
                                 "--features", "pixels", "--kid-subsets", "5", "--num-pairs", "2", "--out", str(tmp_path / "normal")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "normal" / "quality.json").read_text())
    train_normal = json.loads((conditional_run / "config.json").read_text())["class_counts"]["normal"]
    assert report["reference"]["class_name"] == "normal" and f"{train_normal} real training 'normal'" in result.output
    result = runner.invoke(cli, ["quality", "--run", str(conditional_run), "--checkpoints", "all", "--class", "covid", "--num-images", "16",
                                 "--features", "pixels", "--kid-subsets", "5", "--out", str(tmp_path / "select")])
    assert result.exit_code == 0, result.output
    assert "--class covid" in result.output
