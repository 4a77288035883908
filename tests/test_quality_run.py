"""`xgan quality` on a real (tiny) GAN run: sampling, the training-keys reference, checkpoint selection."""

import json

import pytest
from click.testing import CliRunner

from conftest import make_folder_dataset
from xgan.cli import cli
from xgan.errors import UserError
from xgan.gan import GanConfig, list_checkpoints, train_gan
from xgan.quality import QualityConfig, run_quality
from xgan.quality.monitor import KidMonitor


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A 3-epoch 32-px GAN on 20 covid images (14 in training), snapshots every epoch, KID every 2 epochs."""
    root = tmp_path_factory.mktemp("quality_run")
    data = make_folder_dataset(root / "xrays", {"covid": 20, "normal": 40}, patients_per_class={"covid": 8, "normal": 20})
    config = GanConfig(data=str(data), class_name="covid", image_size=32, width=8, latent_dim=16, batch_size=8,
                       epochs=3, snapshot_every=1, preview_every=3, checkpoint_every=3, augment="", out=str(root / "runs"))
    return train_gan(config, callbacks=[KidMonitor(every=2, num_images=16, num_subsets=5)])


def test_kid_monitor_lands_in_the_history(gan_run):
    history = json.loads((gan_run / "history.json").read_text())
    assert [entry["epoch"] for entry in history if "kid" in entry] == [2, 3]


def test_report_from_a_run_uses_its_training_keys(gan_run):
    outcome = run_quality(QualityConfig(run=str(gan_run), num_images=20, features=("pixels",), kid_subsets=10))
    assert outcome.out_dir == gan_run / "quality"
    report = json.loads((gan_run / "quality" / "quality.json").read_text())
    training_keys = json.loads((gan_run / "training_keys.json").read_text())
    assert report["reference"]["num_train"] == len(training_keys)
    assert "training_keys.json" in report["reference"]["note"]
    assert report["synthetic"] == {"source": "run", "run": str(gan_run), "checkpoint": "epoch_0003",
                                   "checkpoint_step": report["synthetic"]["checkpoint_step"], "seed": 0, "num_images": 20}
    assert report["memorization"]["num_synthetic"] == 20
    # The held-out measure: the synthetic images and the GAN's training images, each against the unseen validation images.
    gap = report["held_out"]["pixels16"]
    assert gap["num_unseen"] == report["reference"]["num_val"] >= 2 and gap["num_training"] == len(training_keys)
    assert gap["gap"] == pytest.approx(gap["synthetic_auc"] - gap["floor_auc"])
    assert report["features"]["pixels16"]["val"]["precision_recall_synthetic_vs_val"]["num_real"] == gap["num_unseen"]
    assert {row["statistic"] for row in report["telltales"]} >= {"mean intensity", "sharpness (variance of the Laplacian)"}
    assert "## Held-out realism" in (gan_run / "quality" / "quality.md").read_text()
    assert all(copy["training_key"] in training_keys for copy in report["memorization"]["closest_pairs"])


def test_checkpoint_selection_recommends_one_and_prints_the_sample_command(gan_run, tmp_path):
    result = CliRunner().invoke(cli, ["quality", "--run", str(gan_run), "--checkpoints", "all", "--num-images", "16",
                                      "--features", "pixels", "--kid-subsets", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    selection = json.loads((tmp_path / "checkpoints.json").read_text())
    assert [score["checkpoint"] for score in selection["scores"]] == list_checkpoints(gan_run)
    # The class has validation images the GAN never read: every checkpoint is scored by its held-out gap (KID against
    # those images too), and the recommendation is the smallest gap among the scores it wrote (a tie goes to the later step).
    assert selection["num_unseen"] >= 2 and all(score["held_out"]["num_unseen"] == selection["num_unseen"] for score in selection["scores"])
    assert all(score["kid"]["num_real"] == selection["num_unseen"] for score in selection["scores"])
    lowest = min(selection["scores"], key=lambda score: (score["held_out"]["gap"], -score["step"]))
    assert selection["recommended"] == lowest["checkpoint"] and selection["recommended_step"] == lowest["step"]
    assert f"xgan sample --run {gan_run} --checkpoint {selection['recommended']}" in result.output
    assert (tmp_path / "checkpoint_kid.png").is_file() and (tmp_path / "checkpoints.md").is_file()


def test_unknown_checkpoint_is_refused(gan_run, tmp_path):
    with pytest.raises(UserError, match="Received: checkpoints='epoch_0099'"):
        run_quality(QualityConfig(run=str(gan_run), checkpoints="epoch_0099", features=("pixels",), out=str(tmp_path)))
    result = CliRunner().invoke(cli, ["quality", "--run", str(gan_run), "--checkpoint", "epoch_0099",
                                      "--features", "pixels", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Expected one of epoch_0001" in result.output


def test_a_sampled_folder_finds_its_run_dataset_and_class(gan_run, tmp_path):
    from xgan.gan import sample_to_folder

    folder = sample_to_folder(gan_run, 12, tmp_path / "synthetic", seed=3)
    outcome = run_quality(QualityConfig(synthetic=str(folder), features=("pixels",), kid_subsets=5))
    report = json.loads((outcome.out_dir / "quality.json").read_text())
    assert outcome.out_dir == folder / "quality"
    assert report["synthetic"]["run"] == str(gan_run.resolve()) and report["synthetic"]["num_images"] == 12
    assert report["reference"]["class_name"] == "covid" and "training_keys.json" in report["reference"]["note"]


def test_train_logs_kid_every_n_epochs_and_kid_every_0_turns_it_off(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 10, "normal": 20})
    runs = tmp_path / "runs"
    common = ["--data", str(data), "--size", "32", "--width", "4", "--latent-dim", "8", "--batch-size", "4",
              "--augment", "", "--out", str(runs)]
    result = CliRunner().invoke(cli, ["train", *common, "--epochs", "2", "--kid-every", "1"])
    assert result.exit_code == 0, result.output
    run_dir = next(runs.iterdir())
    # --kid-every is not one of the run's own options: --resume accepts it.
    result = CliRunner().invoke(cli, ["train", "--resume", str(run_dir), "--epochs", "3", "--kid-every", "0"])
    assert result.exit_code == 0, result.output
    history = json.loads((run_dir / "history.json").read_text())
    assert [entry["epoch"] for entry in history if "kid" in entry] == [1, 2]
    assert len(history) == 3
