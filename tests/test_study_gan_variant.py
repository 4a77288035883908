"""`xgan run --gan-variant`: the study's GAN stage trains the named generator variant, kept in study.json."""

import json

import pytest

from conftest import make_folder_dataset
from xgan.errors import UserError
from xgan.gan.config import GAN_VARIANTS
from xgan.study.runner import StudyConfig, run_study


def test_an_unknown_variant_is_refused():
    with pytest.raises(UserError, match=r"argument `gan_variant` \(--gan-variant\). Expected one of dcgan, ada, ddim. Received: gan_variant='stylegan'"):
        StudyConfig(gan_variant="stylegan")
    assert StudyConfig().gan_variant == "dcgan" and GAN_VARIANTS["dcgan"] == {}


def test_ddim_with_an_option_only_the_dcgan_takes_is_refused_before_a_study_folder_exists(tmp_path):
    with pytest.raises(UserError, match=r"argument `conditional` \(--conditional\). Expected False with --gan-variant ddim"):
        StudyConfig(gan_variant="ddim", conditional=True, out=str(tmp_path))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("variant, expected", [
    ("ada", {"model": "dcgan", "ada_target": 0.6, "width": 32}),  # the quick preset's GAN width
    ("ddim", {"model": "ddim", "ada_target": None, "width": 16, "augment": "", "latent_dim": 32 * 32}),  # its own width
])
def test_the_variant_reaches_the_gan_stage_and_study_json(tmp_path, monkeypatch, variant, expected):
    import xgan.gan

    seen = {}

    def train_gan(config, callbacks=()):
        seen["gan"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr(xgan.gan, "train_gan", train_gan)
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1, ratio="auto",
                         quality=False, out=str(tmp_path / "runs"), gan_variant=variant)
    with pytest.raises(UserError, match="interrupted; resume with"):
        run_study(config)
    assert {name: getattr(seen["gan"], name) for name in expected} == expected
    if variant == "ada":
        assert seen["gan"].augment  # the card's DCGAN otherwise: the same policy, adapted
    saved = json.loads((tmp_path / "runs" / "00000-study-xrays" / "study.json").read_text())["config"]
    assert saved["gan_variant"] == variant
