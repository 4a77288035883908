"""Transfer-learning backbones (issue 24): options, sizes, weights files, the download failure, and each family end to end."""

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from xgan.classifier.backbones import BACKBONE_LAYER, BACKBONES, FAMILIES, auto_size, build_backbone, minimum_size, network_description
from xgan.classifier.classify import ClassifyConfig
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.model import build_classifier
from xgan.cli import cli
from xgan.errors import UserError

from conftest import make_folder_dataset

TINY_32 = ["--size", "32", "--epochs", "1", "--batch-size", "16"]


def _one_line(output: str) -> bool:
    return output.count("\n") == 1


def test_every_family_is_a_choice_and_cnn_stays_the_default():
    assert BACKBONES == ("cnn", "vgg16", "resnet50", "densenet121", "mobilenetv3small", "efficientnetb0")
    assert ClassifierConfig().backbone == "cnn" and ClassifierConfig().weights == "none"
    assert ClassifyConfig().classifier_config().backbone == "cnn"


@pytest.mark.parametrize("backbone, data_size, expected", [("cnn", 28, 28), ("vgg16", 28, 32), ("efficientnetb0", 64, 64)])
def test_auto_size_raises_the_data_size_to_the_backbone_minimum(backbone, data_size, expected):
    assert auto_size(backbone, data_size) == expected


def test_auto_size_of_the_bundled_28_px_set_is_32_for_a_family(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    images = rng.integers(0, 255, (6, 28, 28), dtype=np.uint8)
    np.savez(path, train_images=images, train_labels=np.array([0, 1] * 3)[:, None])
    assert ClassifyConfig(data=path).size == 28
    assert ClassifyConfig(data=path, backbone="densenet121", size="auto").size == 32


@pytest.mark.parametrize("backbone", list(FAMILIES))
def test_a_size_below_the_family_minimum_is_refused_in_one_line(backbone):
    with pytest.raises(UserError, match=rf"^--size 28: the {backbone} backbone takes images of at least 32 px; use --size 32 or more"):
        ClassifyConfig(backbone=backbone, size=28)
    with pytest.raises(UserError, match=rf"Expected at least 32 px for backbone {backbone} \(option --size\)"):
        ClassifierConfig(backbone=backbone, image_size=31)
    assert minimum_size(backbone) == 32 and minimum_size("cnn") == 8


def test_too_small_size_through_the_cli_is_one_line(folder_dataset, tmp_path):
    result = CliRunner().invoke(cli, ["classify", "--data", str(folder_dataset), "--backbone", "vgg16", "--size", "16",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2 and _one_line(result.output)
    assert "the vgg16 backbone takes images of at least 32 px" in result.output


@pytest.mark.parametrize("options, match", [
    ({"backbone": "resnet18"}, r"argument `backbone`. Expected one of cnn, vgg16, resnet50"),
    ({"weights": "imagenet"}, r"--weights imagenet: the cnn backbone \(the study's CNN\) has no pretrained weights"),
    ({"backbone": "vgg16", "weights": "weights.pt"}, r"argument `weights`. Expected imagenet, none or a Keras weights file ending in .h5"),
    ({"backbone": "vgg16", "weights": "missing.weights.h5"}, r"--weights missing.weights.h5: no such file; expected a vgg16 weights file"),
    ({"backbone": "vgg16", "freeze_epochs": 2}, r"argument `freeze_epochs`. Expected 0 with weights 'none'"),
])
def test_bad_network_options_are_refused(options, match):
    with pytest.raises(UserError, match=match):
        ClassifyConfig(**options)


def test_pretrained_weights_freeze_three_epochs_unless_told(tmp_path):
    path = tmp_path / "vgg.weights.h5"
    path.write_bytes(b"")  # existence is checked here; the contents where the backbone is built
    assert ClassifyConfig(backbone="vgg16", weights=str(path)).freeze_epochs == 3
    assert ClassifyConfig(backbone="vgg16", weights=str(path), freeze_epochs=0).freeze_epochs == 0
    assert ClassifyConfig(backbone="vgg16").freeze_epochs == 0


def test_an_old_config_without_backbone_loads_as_the_cnn():
    old = {key: value for key, value in ClassifierConfig().to_dict().items() if key not in ("backbone", "weights", "freeze_epochs")}
    config = ClassifierConfig.from_dict(old)
    assert (config.backbone, config.weights, config.freeze_epochs) == ("cnn", "none", 0)


def test_the_imagenet_download_failure_is_one_line(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):  # what keras.utils.get_file raises without network access
        raise Exception("URL fetch failure on https://example.invalid/weights_notop.h5: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(UserError) as raised:
        build_classifier(ClassifierConfig(backbone="mobilenetv3small", weights="imagenet", image_size=32))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("--weights imagenet: could not download the mobilenetv3small ImageNet weights through Keras (URL fetch failure")
    assert message.endswith("without network access use --weights none (from scratch) or --weights FILE (a mobilenetv3small weights file)")


def test_the_imagenet_download_failure_through_the_cli(monkeypatch, folder_dataset, tmp_path):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: (_ for _ in ()).throw(Exception("URL fetch failure: no network")))
    result = CliRunner().invoke(cli, ["classify", "--data", str(folder_dataset), "--backbone", "vgg16", "--weights", "imagenet",
                                      "--out", str(tmp_path), *TINY_32])
    assert result.exit_code == 2 and _one_line(result.output), result.output
    assert "could not download the vgg16 ImageNet weights through Keras (URL fetch failure: no network)" in result.output


def _saved_backbone(tmp_path, backbone: str, size: int = 32):
    keras.utils.set_random_seed(3)
    model = build_backbone(backbone, size, "none")
    path = tmp_path / f"{backbone}.weights.h5"
    model.save_weights(path)
    return model, path


def test_a_weights_file_round_trips_into_the_classifier(tmp_path):
    source, path = _saved_backbone(tmp_path, "mobilenetv3small")
    keras.utils.set_random_seed(4)
    # At another input size: convolution weights do not depend on it.
    model = build_classifier(ClassifierConfig(backbone="mobilenetv3small", weights=str(path), image_size=48))
    loaded = model.get_layer(BACKBONE_LAYER).get_weights()
    assert len(loaded) == len(source.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), loaded))


def test_a_weights_file_of_another_architecture_is_refused_in_one_line(tmp_path):
    _, path = _saved_backbone(tmp_path, "vgg16")
    with pytest.raises(UserError) as raised:
        build_classifier(ClassifierConfig(backbone="mobilenetv3small", weights=str(path), image_size=32))
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"--weights {path}: not mobilenetv3small weights without the classification top (")


def test_pretrained_batch_norm_stays_frozen_when_the_backbone_unfreezes(tmp_path):
    from xgan.classifier.model import set_backbone_trainable

    _, path = _saved_backbone(tmp_path, "mobilenetv3small")
    for weights, frozen in ((str(path), True), ("none", False)):
        backbone = build_classifier(ClassifierConfig(backbone="mobilenetv3small", weights=weights, image_size=32)).get_layer(BACKBONE_LAYER)
        norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
        convolutions = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
        assert norms and all(layer.trainable is not frozen for layer in norms) and all(layer.trainable for layer in convolutions)
        # From scratch the CNN's momentum, so a few hundred steps settle the inference statistics; pretrained ones keep theirs.
        assert {layer.momentum for layer in norms} == ({0.999} if frozen else {0.9})
    set_backbone_trainable(backbone, False, keep_batch_norm=True)
    assert not backbone.trainable_weights
    set_backbone_trainable(backbone, True, keep_batch_norm=True)
    assert all(not layer.trainable for layer in norms) and all(layer.trainable for layer in convolutions)


@pytest.mark.slow
def test_the_head_trains_alone_first_with_batch_norm_in_inference_mode(tmp_path):
    from xgan.classifier.train import train_classifier

    _, path = _saved_backbone(tmp_path, "mobilenetv3small")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 32, 32), dtype=np.uint8)
    labels = np.array([0, 1] * 12)
    config = ClassifierConfig(backbone="mobilenetv3small", weights=str(path), image_size=32, freeze_epochs=1, epochs=1,
                              batch_size=8, class_names=["a", "b"], positive_class="b")
    reference = build_backbone("mobilenetv3small", 32, str(path))
    statistics = [layer.get_weights() for layer in reference.layers if isinstance(layer, keras.layers.BatchNormalization)]
    result = train_classifier(config, images, labels, validation=(images[:8], labels[:8]))
    assert [entry["stage"] for entry in result.history] == ["head", "whole network"]
    assert [entry["epoch"] for entry in result.history] == [1, 2] and "val_auc" in result.history[0]
    backbone = result.model.get_layer(BACKBONE_LAYER)
    assert backbone.trainable
    trained = [layer.get_weights() for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # Pretrained batch normalization is never updated, frozen or fine-tuned (Keras' transfer-learning guide) ...
    assert len(trained) == len(statistics) > 0
    assert all(np.array_equal(a, b) for before, after in zip(statistics, trained) for a, b in zip(before, after))
    # ... while the whole network's second stage did change the backbone's weights.
    assert not np.array_equal(backbone.trainable_weights[0].numpy(), reference.trainable_weights[0].numpy())


def test_network_description_names_the_backbone_and_its_start():
    assert network_description("cnn", "none", 0, 64).startswith("cnn (the study's CNN")
    line = network_description("resnet50", "imagenet", 3, 64)
    assert line.startswith("resnet50 (keras.applications, ImageNet weights, head alone for 3 epoch(s)")


def _train_evaluate_predict(backbone: str, tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 10, "normal": 14}, size=32)
    runner = CliRunner()
    result = runner.invoke(cli, ["classify", "--data", str(data), "--backbone", backbone, "--weights", "none",
                                 "--out", str(tmp_path / "samples"), *TINY_32])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "samples").iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["backbone"], config["weights"], config["freeze_epochs"], config["image_size"]) == (backbone, "none", 0, 32)
    model = keras.saving.load_model(run_dir / "model.keras", compile=False, safe_mode=True)
    assert model.input_shape == (None, 32, 32, 1) and model.get_layer(BACKBONE_LAYER) is not None
    result = runner.invoke(cli, ["evaluate", "--model", str(run_dir), "--data", str(data), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["num_images"] > 0
    image = data / "covid" / "covid_000.png"
    result = runner.invoke(cli, ["predict", "--model", str(run_dir), str(image)])
    assert result.exit_code == 0, result.output
    path, called, probability = result.output.strip().splitlines()[0].split()[:3]
    assert path == str(image) and called in ("covid", "normal") and 0 <= float(probability) <= 1
    # Grad-CAM reads the nested backbone's feature maps through the outer graph.
    result = runner.invoke(cli, ["explain", "--model", str(run_dir), str(image), "--out", str(tmp_path / "explain")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "explain" / "explain.json").read_text())["layer"] == BACKBONE_LAYER


def test_vgg16_trains_saves_evaluates_and_predicts(tmp_path):
    """The default suite's one family end to end: VGG16, the fewest layers to trace."""
    _train_evaluate_predict("vgg16", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet50", "densenet121", "mobilenetv3small", "efficientnetb0"])
def test_every_other_family_trains_saves_evaluates_and_predicts(backbone, tmp_path):
    _train_evaluate_predict(backbone, tmp_path)


@pytest.mark.slow
def test_compare_trains_every_arm_with_the_backbone_and_says_so(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 10, "normal": 14}, size=32)
    result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--compare", "--seeds", "1", "--backbone", "mobilenetv3small",
                                      "--out", str(tmp_path / "samples"), *TINY_32])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "samples").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert report["network"].startswith("mobilenetv3small (keras.applications, from scratch)")
    assert "- network (every arm): mobilenetv3small" in (run_dir / "report.md").read_text()
    assert "network mobilenetv3small" in result.output
    for arm in report["arms"]:
        assert json.loads((run_dir / "arms" / arm / "seed0" / "config.json").read_text())["backbone"] == "mobilenetv3small"


def test_a_study_keeps_its_backbone_and_an_old_study_json_loads_as_the_cnn(tmp_path):
    from xgan.study.runner import STUDY_FILE, StudyConfig, StudyState

    StudyState(tmp_path, StudyConfig(backbone="mobilenetv3small", out=str(tmp_path)), {}).save()
    config = StudyState.load(tmp_path).config
    assert (config.backbone, config.weights, config.freeze_epochs) == ("mobilenetv3small", "none", 0)
    saved = json.loads((tmp_path / STUDY_FILE).read_text())
    for key in ("backbone", "weights", "freeze_epochs"):
        del saved["config"][key]
    (tmp_path / STUDY_FILE).write_text(json.dumps(saved))
    config = StudyState.load(tmp_path).config
    assert (config.backbone, config.weights, config.freeze_epochs) == ("cnn", "none", 0)


def test_the_study_classify_stage_trains_every_arm_on_the_study_backbone(tmp_path, monkeypatch):
    import importlib
    from types import SimpleNamespace

    from xgan.study.config import StudyConfig
    from xgan.study.stages import STAGES
    from xgan.study.state import StudyState

    seen = {}

    def classify(config, resume=None):  # the study passes the classify run it resumes, if any
        seen["classify"] = config
        return SimpleNamespace(summary="", run_dir=config.out, seconds=0.0)

    monkeypatch.setattr(importlib.import_module("xgan.classifier.classify"), "classify", classify)
    stages = {"data": {"data": "pneumoniamnist", "splits": str(tmp_path / "splits.json"), "size": 32, "class_name": "normal",
                       "class_counts": {"normal": 2, "pneumonia": 3}},
              "sample": {"folders": {"normal": str(tmp_path / "synthetic")}}}
    state = StudyState(tmp_path, StudyConfig(backbone="efficientnetb0", out=str(tmp_path)), stages)
    next(stage for stage in STAGES if stage.name == "classify").function(state, lambda line: None)
    config = seen["classify"]
    assert (config.backbone, config.weights, config.freeze_epochs, config.size) == ("efficientnetb0", "none", 0, 32)
    assert config.classifier_config().backbone == "efficientnetb0"


def test_xgan_run_refuses_a_failed_download_before_the_gan_trains(monkeypatch, tmp_path):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: (_ for _ in ()).throw(Exception("URL fetch failure: no network")))
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 8, "normal": 30}, size=32)
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--backbone", "resnet50", "--weights", "imagenet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and _one_line(result.output), result.output
    assert "could not download the resnet50 ImageNet weights" in result.output and not (tmp_path / "out").exists()
