"""Feature extractors and checkpoint selection's pure parts."""

import numpy as np
import pytest

from conftest import synthetic_xray
from xgan.errors import UserError
from xgan.datasets.images import resize_batch
from xgan.quality.features import InceptionFeatures, PixelFeatures, fit_classifier_features
from xgan.quality.kid import KidResult
from xgan.quality.selection import CheckpointScore, recommend_checkpoint, resolve_checkpoints, sample_command


def images(num, size=32, seed=0, bright=True):
    rng = np.random.default_rng(seed)
    return np.stack([synthetic_xray(rng, size, bright) for _ in range(num)])


def test_pixel_features_shape_range_and_determinism():
    batch = images(5)
    features = PixelFeatures(8)(batch)
    assert features.shape == (5, 64) and features.dtype == np.float32
    assert 0 <= features.min() and features.max() <= 1
    np.testing.assert_array_equal(features, PixelFeatures(8)(batch))
    # Area averaging: a constant image stays constant.
    np.testing.assert_allclose(PixelFeatures(4)(np.full((1, 32, 32), 51, np.uint8)), 0.2)


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8), np.float32), np.zeros((8, 8), np.uint8)])
def test_pixel_features_reject_non_uint8_batches(bad):
    with pytest.raises(ValueError, match=r"Expected a \(N, S, S\) uint8 array"):
        PixelFeatures()(bad)


def test_pixel_features_reject_bad_size():
    with pytest.raises(ValueError, match="size=1"):
        PixelFeatures(1)


def test_resize_batch_both_ways():
    batch = images(2, 16)
    assert resize_batch(batch, 32).shape == (2, 32, 32)
    assert resize_batch(batch, 8).shape == (2, 8, 8)
    assert resize_batch(batch, 16) is batch


def test_inception_needs_a_local_file_and_a_large_enough_size(tmp_path):
    with pytest.raises(UserError, match="no such weights file; .* never downloads"):
        InceptionFeatures(tmp_path / "missing.h5")
    with pytest.raises(UserError, match="inception_size=32"):
        InceptionFeatures(tmp_path / "missing.h5", size=32)


@pytest.mark.slow
def test_inception_features_from_a_local_weights_file(tmp_path):
    import keras

    weights = tmp_path / "inception.weights.h5"
    keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg", input_shape=(75, 75, 3)).save_weights(weights)
    features = InceptionFeatures(weights, size=75)(images(3))
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    (tmp_path / "not_weights.h5").write_bytes(b"nonsense")
    with pytest.raises(UserError, match="not usable as InceptionV3 no-top weights"):
        InceptionFeatures(tmp_path / "not_weights.h5", size=75)


def test_classifier_features_come_from_the_penultimate_layer():
    batch = np.concatenate([images(12, bright=True), images(12, seed=1, bright=False)])
    labels = np.array([0] * 12 + [1] * 12)
    extractor = fit_classifier_features(batch, labels, ["covid", "normal"], epochs=1, seed=0)
    features = extractor(batch[:5])
    assert features.shape == (5, 64) and features.dtype == np.float32
    assert "covid 12, normal 12" in extractor.description
    # Images of another size are resized to the model's input first.
    assert extractor(images(2, size=48)).shape == (2, 64)


def score(name, step, mean, std):
    return CheckpointScore(name, step, KidResult(mean, std, 10, 10, 10, 10))


def test_recommendation_is_the_lowest_kid():
    best, reason = recommend_checkpoint([score("a", 50, 0.05, 0.001), score("b", 100, 0.02, 0.001),
                                         score("c", 150, 0.04, 0.001)])
    assert best.checkpoint == "b"
    assert "more than one standard deviation below the other 2" in reason


def test_recommendation_names_checkpoints_it_cannot_tell_apart():
    best, reason = recommend_checkpoint([score("a", 50, 0.021, 0.001), score("b", 100, 0.020, 0.005)])
    assert best.checkpoint == "b" and "`a` lies within one standard deviation" in reason
    tied, _ = recommend_checkpoint([score("a", 50, 0.02, 0.0), score("b", 100, 0.02, 0.0)])
    assert tied.checkpoint == "b"  # a tie goes to the later step


@pytest.mark.parametrize("requested, expected", [
    ("all", ["s50", "s100", "final"]),
    ("final, s50", ["s50", "final"]),
    ("ALL", ["s50", "s100", "final"]),
])
def test_resolve_checkpoints(requested, expected):
    assert resolve_checkpoints(requested, ["s50", "s100", "final"]) == expected


def test_resolve_checkpoints_errors():
    with pytest.raises(UserError, match=r"Expected 'all' or names among s50, final. Received: checkpoints='s75'"):
        resolve_checkpoints("s75", ["s50", "final"])
    with pytest.raises(UserError, match="no generator checkpoints"):
        resolve_checkpoints("all", [])


def test_sample_command_quotes_paths():
    assert sample_command("samples/my run", "snap 1") == "xgan sample --run 'samples/my run' --checkpoint 'snap 1'"
