"""`--model ddim` (issue 21, item 3): the diffusion generator trains, resumes exactly, samples and reaches every command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_folder_dataset
from xgan.cli import cli, kid_default
from xgan.errors import UserError
from xgan.gan import GanConfig, generate_images, load_generator, resume_gan, train_gan
from xgan.gan.config import DCGAN_LATENT_DIM, DDIM_KID_EVERY, DEFAULT_KID_EVERY, DEFAULT_POLICY, MODEL_DEFAULTS
from xgan.gan.plot import plot_panels
from xgan.gan.run_state import STATE_FILE, read_arrays
from xgan.runs import read_gan_config, read_history


@pytest.fixture(scope="module")
def xrays(tmp_path_factory):
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})


def tiny_config(data, out, **changes):
    values = dict(data=str(data), model="ddim", class_name="covid", image_size=32, width=4, batch_size=4, epochs=2,
                  preview_every=1, checkpoint_every=1, snapshot_every=1, sampling_steps=3, out=str(out))
    return GanConfig(**(values | changes))


def test_each_family_takes_its_own_defaults_and_config_json_holds_them():
    dcgan = GanConfig()
    assert (dcgan.width, dcgan.latent_dim, dcgan.learning_rate, dcgan.beta_1, dcgan.augment, dcgan.ema_kimg) == \
        (64, DCGAN_LATENT_DIM, 2e-4, 0.5, DEFAULT_POLICY, 1.0)  # the card's DCGAN, unchanged
    ddim = GanConfig(model="ddim", image_size=64)
    assert ddim.latent_dim == 64 * 64 and {name: getattr(ddim, name) for name in MODEL_DEFAULTS["ddim"]} == MODEL_DEFAULTS["ddim"]
    assert GanConfig.from_dict(ddim.to_dict()) == ddim
    assert GanConfig(model="ddim", image_size=32, width=8, learning_rate=5e-4).width == 8  # given values win


@pytest.mark.parametrize("changes, match", [
    ({"latent_dim": 100}, r"Expected 1024 with --model ddim at 32 px \(its latent is the starting noise"),
    ({"augment": "cutout"}, r"argument `augment` \(--augment\). Expected none"),
    ({"loss": "hinge"}, r"argument `loss` \(--loss\). Expected 'bce' with --model ddim \(an option of the DCGAN alone\)"),
    ({"conditional": True, "class_name": None}, r"argument `conditional` \(--conditional\)"),
    ({"ada_target": 0.6}, r"--ada-target"),
    ({"precision": "mixed"}, r"--precision"),
    ({"sampling_steps": 0}, r"--sampling-steps"),
    ({"model": "stylegan"}, r"argument `model` \(--model\). Expected one of dcgan, ddim"),
    ({"model": "dcgan", "sampling_steps": 5}, r"Expected its default \(20\) without --model ddim"),
])
def test_options_that_do_not_apply_are_refused_by_name(changes, match):
    with pytest.raises(UserError, match=match):
        GanConfig(**({"model": "ddim", "image_size": 32} | changes))


def test_trains_records_and_resumes_exactly(xrays, tmp_path):
    straight = train_gan(tiny_config(xrays, tmp_path / "straight"))
    config = read_gan_config(straight)
    assert config["model"] == "ddim" and config["latent_dim"] == 1024 and config["augment"] == ""
    history = read_history(straight)
    assert [entry["epoch"] for entry in history] == [1, 2] and all(np.isfinite(entry["noise_loss"]) for entry in history)
    assert not any(key.startswith(("d_", "g_")) for key in history[-1])
    assert (straight / "previews" / "epoch_0002.png").is_file() and (straight / "losses.png").is_file()
    stopped = train_gan(tiny_config(xrays, tmp_path / "resumed", epochs=1))
    resume_gan(stopped, epochs=2)
    expected, _ = read_arrays(straight / STATE_FILE)
    arrays, meta = read_arrays(stopped / STATE_FILE)
    assert meta["epoch"] == 2 and sorted(arrays) == sorted(expected)
    assert {key.split("/")[0] for key in arrays} == {"generator", "ema_generator", "g_optimizer", "seed"}
    for key in arrays:  # the U-Net, its average, the images' mean and spread, AdamW's moments and the random state
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)


def test_a_snapshot_draws_alone_and_image_i_does_not_depend_on_the_count(xrays, tmp_path):
    run = train_gan(tiny_config(xrays, tmp_path / "runs", epochs=1))
    generator, info = load_generator(run)
    assert info["model"] == "ddim" and info["latent_dim"] == 1024 and info["image_size"] == 32
    layer = generator.get_layer("ddim")
    assert layer.sampling_steps == 3 and 0.0 < float(layer.data_std.numpy()) < 2.0  # the training images' spread, restored
    many = generate_images(generator, 5, 7, info["latent_dim"])
    assert many.shape == (5, 32, 32) and many.dtype == np.uint8 and many.std() > 0
    np.testing.assert_array_equal(generate_images(generator, 2, 7, info["latent_dim"]), many[:2])
    again, _ = load_generator(run)
    np.testing.assert_array_equal(generate_images(again, 5, 7, info["latent_dim"]), many)


def test_the_loss_plot_has_no_discriminator_panel():
    history = [{"epoch": 1, "noise_loss": 0.8, "kid": 0.1}, {"epoch": 2, "noise_loss": 0.7}]
    assert plot_panels(history) == [("loss", ("noise_loss",)), ("kid", ("kid",))]


def test_cli_trains_resumes_samples_and_measures_a_ddim_run(xrays, tmp_path):
    runner = CliRunner()
    runs = tmp_path / "runs"
    result = runner.invoke(cli, ["train", "--data", str(xrays), "--model", "ddim", "--size", "32", "--width", "4",
                                 "--batch-size", "4", "--epochs", "1", "--sampling-steps", "2", "--out", str(runs)])
    assert result.exit_code == 0, result.output
    run_dir = runs / "00000-gan-covid"
    assert f"Diffusion (DDIM) run: {run_dir}" in result.output and "noise_loss" in result.output
    result = runner.invoke(cli, ["train", "--resume", str(run_dir), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert [entry["epoch"] for entry in read_history(run_dir)] == [1, 2]
    result = runner.invoke(cli, ["sample", "--run", str(run_dir), "--n", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    manifest = (run_dir / "synthetic" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 4 and manifest[1].split(",")[5] == "epoch_0002"
    result = runner.invoke(cli, ["quality", "--run", str(run_dir), "--data", str(xrays), "--num-images", "10",
                                 "--features", "pixels"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "quality" / "quality.json").read_text())
    assert report["synthetic"]["checkpoint"] == "epoch_0002" and report["memorization"]["num_near_copies"] == 0
    assert -1.0 <= report["held_out"]["pixels16"]["gap"] <= 1.0  # the held-out gap, measured on unseen validation films


def test_the_kid_monitor_runs_less_often_for_ddim_unless_told():
    assert kid_default(None, "dcgan") == DEFAULT_KID_EVERY and kid_default(None, "ddim") == DDIM_KID_EVERY > DEFAULT_KID_EVERY
    assert kid_default(0, "ddim") == 0 and kid_default(5, "ddim") == 5


def test_cli_refuses_an_adversarial_option_with_ddim_in_one_line(xrays, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(xrays), "--model", "ddim", "--r1-gamma", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith("Error: ") and result.output.strip().count("\n") == 0
    assert "--r1-gamma" in result.output and "--model ddim" in result.output
    assert not (tmp_path / "00000-gan-covid").exists()
