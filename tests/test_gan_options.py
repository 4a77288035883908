"""The stronger-generator options of issue 21: each trains, resumes exactly, and leaves the default DCGAN untouched."""

import numpy as np
import pytest

from conftest import make_folder_dataset
from xgan.errors import UserError
from xgan.gan import GanConfig, generate_images, load_generator, resume_gan, train_gan
from xgan.gan.fit import build_model, freeze_discriminator_layers
from xgan.gan.models import MinibatchStandardDeviation, build_discriminator, build_generator
from xgan.gan.run_state import STATE_FILE, read_arrays
from xgan.runs import read_gan_config, read_history, read_training_keys

STRONGER = dict(upsample="resize", loss="hinge", r1_gamma=1.0, spectral_norm=True, minibatch_std=True, ada_target=0.6, ada_kimg=0.01)


@pytest.fixture(scope="module")
def xrays(tmp_path_factory):
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})


def tiny_config(data, out, **changes):
    values = dict(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=2, preview_every=1,
                  checkpoint_every=1, snapshot_every=1, out=str(out))
    return GanConfig(**(values | changes))


def test_every_option_trains_records_and_resumes_exactly(xrays, tmp_path):
    straight = train_gan(tiny_config(xrays, tmp_path / "straight", class_name="covid", **STRONGER))
    config = read_gan_config(straight)
    assert {name: config[name] for name in STRONGER} == STRONGER
    history = read_history(straight)
    assert all(0.0 <= entry["augment_p"] <= 1.0 and entry["r1_penalty"] >= 0.0 for entry in history)
    stopped = train_gan(tiny_config(xrays, tmp_path / "resumed", class_name="covid", epochs=1, **STRONGER))
    resume_gan(stopped, epochs=2)
    expected, _ = read_arrays(straight / STATE_FILE)
    arrays, meta = read_arrays(stopped / STATE_FILE)
    assert meta["epoch"] == 2 and sorted(arrays) == sorted(expected) and any(key.startswith("augment_probability") for key in arrays)
    for key in arrays:  # networks, spectral-norm vectors, optimizers, the random state and the augmentation probability
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
    generator, info = load_generator(straight)  # sampling rebuilds the resize generator from config.json
    assert generate_images(generator, 3, 0, info["latent_dim"]).shape == (3, 32, 32)


def test_the_default_model_is_the_dcgan_with_no_extra_state(xrays):
    model = build_model(tiny_config(xrays, "unused"), np.zeros((4, 32, 32), np.uint8))
    assert model.augment_probability is None and [m.name for m in model.metrics] == ["d_loss", "g_loss", "d_real_acc", "d_fake_acc"]
    assert [layer.name for layer in model.generator.layers if "up" in layer.name][:2] == ["up1", "up1_bn"]
    assert not any("minibatch" in layer.name or layer.name.endswith("_sn") for layer in model.discriminator.layers)


def test_architecture_options_change_the_layers():
    generator = build_generator(32, 8, 4, seed=0, upsample="resize")
    assert [layer.name for layer in generator.layers if layer.name.startswith("up1")] == ["up1_resize", "up1", "up1_bn", "up1_relu"]
    discriminator = build_discriminator(32, 4, seed=0, spectral_norm=True, minibatch_std=True)
    names = [layer.name for layer in discriminator.layers]
    assert "down1_sn" in names and "logit_conv_sn" in names and not any(name.endswith("_bn") for name in names)
    assert names.index("minibatch_std") == names.index("logit_conv_sn") - 1
    with pytest.raises(ValueError, match="Expected one of \\('transpose', 'resize'\\). Received: upsample='bilinear'"):
        build_generator(32, 8, 4, upsample="bilinear")


def test_minibatch_standard_deviation_is_one_more_channel():
    features = np.stack([np.full((2, 2, 3), value, np.float32) for value in (0.0, 2.0)])
    output = np.asarray(MinibatchStandardDeviation()(features))
    assert output.shape == (2, 2, 2, 4)
    np.testing.assert_allclose(output[..., 3], 1.0, rtol=1e-6)  # every feature: values 0 and 2, standard deviation 1
    np.testing.assert_array_equal(output[..., :3], features)


def test_freeze_d_freezes_the_first_blocks_only():
    discriminator = build_discriminator(32, 4, seed=0)
    assert freeze_discriminator_layers(discriminator, 2) == ["down1", "down2", "down2_bn"]
    trainable = {layer.name for layer in discriminator.layers if layer.trainable and layer.weights}
    assert trainable == {"down3", "down3_bn", "logit_conv"}


@pytest.mark.slow
def test_transfer_from_an_every_class_run_keeps_frozen_layers(xrays, tmp_path):
    pretrained = train_gan(tiny_config(xrays, tmp_path / "all", every_class=True, epochs=1))
    config = read_gan_config(pretrained)
    assert pretrained.name.endswith("-gan-all") and config["class_name"] is None
    keys = read_training_keys(pretrained)
    assert {key.split("/")[0] for key in keys} == {"covid", "normal"} and config["num_training_images"] == len(keys)
    adapted = train_gan(tiny_config(xrays, tmp_path / "adapted", class_name="covid", epochs=1, init_from=str(pretrained), freeze_d=1))
    before, _ = read_arrays(pretrained / STATE_FILE)
    after, _ = read_arrays(adapted / STATE_FILE)
    # down1 (kernel and bias) is frozen, so still the pre-trained one; later layers and the generator trained on.
    frozen = [key for key in before if key.startswith("discriminator/down1/")]
    assert len(frozen) == 2
    for key in frozen:
        np.testing.assert_array_equal(after[key], before[key])
    trained = [key for key in before if key.startswith(("discriminator/down3/", "generator/project/"))]
    assert trained and not any(np.array_equal(after[key], before[key]) for key in trained)


@pytest.mark.parametrize("changes, message", [
    (dict(freeze_d=1), "Expected to be used with init_from"),
    (dict(upsample="bilinear"), "argument `upsample` \\(--upsample\\). Expected one of transpose, resize. Received: upsample='bilinear'"),
    (dict(loss="wasserstein"), "Expected one of bce, hinge"),
    (dict(r1_gamma=-1.0), "Expected a non-negative number"),
    (dict(ada_target=1.5), "Expected a number in \\(0, 1\\)"),
    (dict(ada_target=0.6, augment=""), "Expected an augmentation policy to adapt"),
    (dict(init_from="x", freeze_d=3), "Expected fewer than the discriminator's 3 downsampling layers at 32 px"),
    (dict(every_class=True, class_name="covid"), "Expected none with --every-class"),
    (dict(conditional=True, spectral_norm=True), "Invalid value received for argument `spectral_norm`. Expected its default with --conditional"),
])
def test_bad_options_are_refused(changes, message):
    with pytest.raises(UserError, match=message):
        GanConfig(image_size=32, **changes)


def test_init_from_a_folder_without_checkpoint_is_refused_before_a_run_folder_is_made(xrays, tmp_path):
    with pytest.raises(UserError, match="has no checkpoint \\(checkpoints/state.npz\\) to start from"):
        train_gan(tiny_config(xrays, tmp_path / "runs", class_name="covid", init_from=str(tmp_path)))
    assert not (tmp_path / "runs").exists()
