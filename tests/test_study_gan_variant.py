"""`xgan run --gan-variant`: the study's GAN stage trains the named generator variant, kept in study.json."""

import json

import pytest

from conftest import make_folder_dataset
from xgan.errors import UserError
from xgan.gan.config import GAN_VARIANTS
from xgan.study.runner import StudyConfig, run_study


def test_an_unknown_variant_is_refused():
    with pytest.raises(UserError, match=r"argument `gan_variant` \(--gan-variant\). Expected one of dcgan, ada. Received: gan_variant='stylegan'"):
        StudyConfig(gan_variant="stylegan")
    assert StudyConfig().gan_variant == "dcgan" and GAN_VARIANTS["dcgan"] == {}


def test_the_variant_reaches_the_gan_stage_and_study_json(tmp_path, monkeypatch):
    import xgan.gan

    seen = {}

    def train_gan(config, callbacks=()):
        seen["gan"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr(xgan.gan, "train_gan", train_gan)
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 14, "normal": 30}, size=32)
    config = StudyConfig(data=str(data), size=32, num_synthetic=24, gan_epochs=2, classifier_epochs=1, seeds=1, ratio="auto",
                         quality=False, out=str(tmp_path / "runs"), gan_variant="ada")
    with pytest.raises(UserError, match="interrupted; resume with"):
        run_study(config)
    assert seen["gan"].ada_target == 0.6 and seen["gan"].augment  # the card's DCGAN otherwise: the same policy, adapted
    saved = json.loads((tmp_path / "runs" / "00000-study-xrays" / "study.json").read_text())["config"]
    assert saved["gan_variant"] == "ada"
