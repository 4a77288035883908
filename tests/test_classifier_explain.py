"""`xgan explain`: Grad-CAM maps of the called class, the border share that flags shortcuts, and the corner-marker check."""

import json
import math

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from xgan.classifier.config import ClassifierConfig
from xgan.classifier.explain import (NO_LOCATION, UNIFORM_BORDER_SHARE, border_share, choose_films, format_gradcam, gradcam,
                                     has_location, last_convolution_layer)
from xgan.cli import cli

from conftest import synthetic_xray


def test_border_share_of_an_even_a_framed_and_an_empty_map():
    even, framed = np.ones((1, 50, 50)), np.zeros((1, 50, 50))
    framed[0, :5] = 1  # the top 10%
    shares = border_share(np.concatenate([even, framed, np.zeros((1, 50, 50))]))
    assert shares[0] == pytest.approx(UNIFORM_BORDER_SHARE) == pytest.approx(0.36)
    assert shares[1] == 1.0 and math.isnan(shares[2])


def test_the_last_convolution_block_is_found_by_shape_not_by_name():
    import keras

    from xgan.classifier.model import build_classifier

    assert last_convolution_layer(build_classifier(ClassifierConfig(image_size=16, conv_filters=(4, 8)))).name == "relu_2"
    # A backbone as keras.applications gives it: a nested model with a 4-D output, then global pooling.
    inputs = keras.Input((16, 16, 1))
    backbone = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, padding="same")], name="backbone")
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    assert last_convolution_layer(keras.Model(inputs, outputs)).name == "backbone"
    flat = keras.Input((4,))
    with pytest.raises(ValueError, match="Expected a convolutional model"):
        last_convolution_layer(keras.Model(flat, keras.layers.Dense(1)(flat)))


def test_the_films_are_per_class_one_right_and_one_wrong():
    y_true = np.array([0, 0, 1, 1, 1])
    right = np.array([True, True, True, False, True])
    films = choose_films(y_true, right, 2, seed=0)
    assert sorted(word for _, word in films) == ["right", "right", "wrong"]  # class 0 has no wrong film
    assert {(int(y_true[i]), word) for i, word in films} == {(0, "right"), (1, "right"), (1, "wrong")}
    assert films == choose_films(y_true, right, 2, seed=0)


def _saved_model(folder, class_names, positive):
    from xgan.classifier.model import build_classifier
    from xgan.classifier.saving import save_classifier

    config = ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), class_names=class_names, positive_class=positive)
    details = {} if positive is None else {"decision_threshold": {"threshold": 0.5, "method": "youden", "fitted_on": "validation"}}
    save_classifier(folder, build_classifier(config), config, **details)
    return folder


@pytest.mark.parametrize("class_names, positive", [(["covid", "normal"], "covid"), (["covid", "normal", "pneumonia"], None)])
def test_explain_writes_an_overlay_per_image_and_never_overwrites(tmp_path, class_names, positive):
    model = _saved_model(tmp_path / "model", class_names, positive)
    rng = np.random.default_rng(0)
    images = []
    for name in ("a", "b"):
        images.append(tmp_path / f"{name}.png")
        cv2.imwrite(str(images[-1]), synthetic_xray(rng, 24, bright=name == "a"))
    out = tmp_path / "explained"
    result = CliRunner().invoke(cli, ["explain", "--model", str(model), *map(str, images), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_gradcam.png", "b_gradcam.png", "explain.json"]
    record = json.loads((out / "explain.json").read_text())
    assert record["layer"] == "relu_2" and [row["called"] in class_names for row in record["images"]] == [True, True]
    assert "border share" in result.output
    again = CliRunner().invoke(cli, ["explain", "--model", str(model), str(images[0]), "--out", str(out)])
    assert again.exit_code == 2 and again.output.strip() == f"Error: {out / 'a_gradcam.png'}: exists; pass --overwrite to replace it, or choose another --out"
    replaced = CliRunner().invoke(cli, ["explain", "--model", str(model), str(images[0]), "--out", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output


def test_a_backbone_s_one_by_one_map_at_32_px_has_no_location():
    from xgan.classifier.model import build_classifier

    assert has_location(build_classifier(ClassifierConfig(image_size=16, conv_filters=(4, 8))))
    # keras.applications reduce their input 32 times: at 32 px (`--size auto` on 28 px data) the last block is 1 x 1.
    assert not has_location(build_classifier(ClassifierConfig(image_size=32, backbone="mobilenetv3small", weights="none")))


def test_explain_gives_no_border_share_for_a_map_without_location(tmp_path):
    import keras

    from xgan.classifier.saving import save_classifier

    # A nested backbone as keras.applications gives it, whose last block is 1 x 1.
    inputs = keras.Input((16, 16, 1), name="image")
    backbone = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 16)], name="backbone")
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    config = ClassifierConfig(image_size=16, class_names=["covid", "normal"], positive_class="covid")
    save_classifier(tmp_path / "model", keras.Model(inputs, outputs), config,
                    decision_threshold={"threshold": 0.5, "method": "youden", "fitted_on": "validation"})
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), synthetic_xray(np.random.default_rng(0), 24, bright=False))
    result = CliRunner().invoke(cli, ["explain", "--model", str(tmp_path / "model"), str(image), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "explain.json").read_text())
    assert record["location"] is False and record["images"][0]["border_share"] is None
    assert "border share n/a" in result.output and f"layer backbone: {NO_LOCATION}" in result.output


def test_the_comparison_report_says_a_map_without_location_has_no_border_share():
    record = {"layer": "backbone", "location": False, "border_fraction": 0.1, "uniform_border_share": UNIFORM_BORDER_SHARE,
              "num_images": 9, "films": [], "arms": {"baseline": {"border_share": {"mean": None, "std": None}}}}
    lines = format_gradcam({"gradcam": record})
    assert lines[-1] == f"Layer `backbone`: {NO_LOCATION}. The maps below show the call, not where the model looks."
    assert not any(line.startswith("| ") for line in lines)


def test_gradcam_calls_a_softmax_model_s_most_probable_class():
    from xgan.classifier.model import build_classifier
    from xgan.classifier.train import predict_probabilities

    model = build_classifier(ClassifierConfig(image_size=16, conv_filters=(4,), dense_units=(8,), class_names=["a", "b", "c"]))
    images = np.random.default_rng(1).integers(0, 255, (5, 16, 16), dtype=np.uint8)
    maps, called, scores = gradcam(model, images)
    probabilities = predict_probabilities(model, images)
    assert maps.shape == (5, 16, 16) and maps.min() >= 0 and maps.max() <= 1
    assert list(called) == list(probabilities.argmax(1)) and np.allclose(scores, probabilities.max(1), atol=1e-5)


def _marker_dataset(root, marker: bool, count: int = 40, size: int = 32):
    """Two classes of noisy gradients: 'positive' marked by a bright 4x4 corner square, or by a bright blob inside the lungs' area."""
    rng = np.random.default_rng(0)
    for label in ("positive", "negative"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = synthetic_xray(rng, size, bright=not marker and label == "positive")
            if marker and label == "positive":
                image[:4, :4] = 255
            cv2.imwrite(str(root / label / f"{label}_{i:03d}.png"), image)
    return root


@pytest.mark.slow  # two classifiers of ten epochs (about 30-60 s on 2 busy CPU cores)
def test_a_corner_marker_shortcut_puts_the_map_in_the_border(tmp_path):
    from xgan.datasets.dataset import load_dataset
    from xgan.datasets.splits import resolve_splits

    shares = {}
    for marker in (True, False):
        data = _marker_dataset(tmp_path / f"marker{marker}", marker)
        out = tmp_path / f"runs{marker}"
        result = CliRunner().invoke(cli, ["classify", "--data", str(data), "--size", "32", "--epochs", "10", "--patience", "10",
                                          "--batch-size", "16", "--positive", "positive", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert json.loads((next(out.iterdir()) / "metrics.json").read_text())["balanced_accuracy"] >= 0.9  # it learned the cue
        test = [data / key for key in resolve_splits(load_dataset(data)).keys("test") if key.startswith("positive/")]
        explained = tmp_path / f"explained{marker}"
        result = CliRunner().invoke(cli, ["explain", "--model", str(next(out.iterdir())), *map(str, test), "--out", str(explained)])
        assert result.exit_code == 0, result.output
        shares[marker] = np.mean([row["border_share"] for row in json.loads((explained / "explain.json").read_text())["images"]])
    # The marker model's maps sit in the border, far above an even map's 0.36; the blob model's inside it.
    assert shares[True] > UNIFORM_BORDER_SHARE and shares[False] < 0.25 and shares[True] > 2 * shares[False], shares
