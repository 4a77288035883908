"""Memorization: copies of training images are flagged, unrelated images are not."""

import numpy as np
import pytest

from conftest import synthetic_xray
from xgan.quality.memorization import find_memorization, nearest_by_correlation, normalize_pixels


@pytest.fixture
def training_images():
    rng = np.random.default_rng(0)
    return np.stack([synthetic_xray(rng, 32, bright=i % 2 == 0) for i in range(12)])


def keys(n):
    return [f"covid/img_{i:03d}.png" for i in range(n)]


def test_normalized_pixels_give_pearson_correlation():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 255, (2, 8, 8))
    rows = normalize_pixels(np.stack([a, b]))
    assert rows[0] @ rows[1] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-5)
    assert not normalize_pixels(np.full((1, 4, 4), 7)).any()  # a constant image correlates with nothing


def test_nearest_by_correlation_ignores_brightness_and_contrast(training_images):
    brighter = np.clip(training_images[[5, 2]].astype(float) * 0.5 + 60, 0, 255).astype(np.uint8)
    index, correlation = nearest_by_correlation(brighter, training_images)
    assert index.tolist() == [5, 2]
    assert (correlation > 0.99).all()


def test_copies_of_training_images_are_flagged(training_images):
    rng = np.random.default_rng(1)
    copies = training_images[[3, 7, 7, 10]].astype(float) + rng.normal(0, 3, (4, 32, 32))
    synthetic = np.clip(np.concatenate([copies, [synthetic_xray(rng, 32, bright=True)]]), 0, 255).astype(np.uint8)
    result = find_memorization(synthetic, training_images, keys(12))
    assert sorted(result.near_copies.tolist()) == [0, 1, 2, 3]
    assert [result.nearest_key[i] for i in range(4)] == [keys(12)[i] for i in (3, 7, 7, 10)]
    assert result.share_near_copies == pytest.approx(4 / 5)
    assert "4 of 5 synthetic images" in result.warning and "covid/img_007.png" in result.warning
    assert "nearly copy a real training image" in result.warning
    summary = result.summary()
    assert summary["num_near_copies"] == 4 and summary["num_distinct_nearest_training_images"] == 4
    assert summary["real_vs_real_nearest_correlation"]["max"] < 0.95


def test_unrelated_images_are_not_flagged(training_images):
    rng = np.random.default_rng(2)  # same kind of image, new noise and blobs: like new patients
    synthetic = np.stack([synthetic_xray(rng, 32, bright=i % 2 == 0) for i in range(10)])
    result = find_memorization(synthetic, training_images, keys(12))
    assert len(result.near_copies) == 0 and result.share_near_copies == 0
    assert result.warning is None
    assert result.summary()["max_correlation"] < 0.95


def test_threshold_is_a_parameter(training_images):
    rng = np.random.default_rng(2)
    synthetic = np.stack([synthetic_xray(rng, 32, bright=True) for _ in range(4)])
    lowest = find_memorization(synthetic, training_images, keys(12)).nearest_correlation.min()
    assert len(find_memorization(synthetic, training_images, keys(12), threshold=lowest).near_copies) == 4


def test_feature_distances_find_the_copied_image(training_images):
    features = training_images.reshape(12, -1)[:, ::16].astype(float)
    result = find_memorization(training_images[[4, 9]], training_images, keys(12),
                               synthetic_features=features[[4, 9]], real_features=features, feature_name="pixels")
    assert result.feature_nearest_key == [keys(12)[4], keys(12)[9]]
    assert (result.feature_distance_ratio == 0).all()
    assert result.summary()["features"]["share_same_nearest_as_pixels"] == 1.0


def test_closest_pairs_are_sorted_and_show_each_training_image_once(training_images):
    # Three blends lean towards training image 0, one towards image 5.
    synthetic = np.stack([training_images[0] // 2 + training_images[i] // 2 for i in (1, 2, 3)]
                         + [training_images[5] // 4 + 3 * (training_images[6] // 4)])
    result = find_memorization(synthetic, training_images, keys(12))
    pairs = result.closest_pairs(4)
    correlations = result.nearest_correlation[pairs]
    assert (np.diff(correlations) <= 0).all()
    assert len(set(result.nearest_index[pairs])) == len(pairs)
    assert len(result.closest_pairs(4, distinct_training_images=False)) == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 0.0}, "threshold=0.0"),
    ({"threshold": 1.5}, "threshold=1.5"),
    ({"real_keys": ["a"]}, "one key per real image"),
    ({"synthetic_features": np.zeros((2, 3))}, "both feature arrays"),
])
def test_bad_arguments(training_images, kwargs, match):
    arguments = {"real_keys": keys(12), **kwargs}
    with pytest.raises(ValueError, match=match):
        find_memorization(training_images[:2], training_images, **arguments)


def test_size_mismatch_is_named(training_images):
    with pytest.raises(ValueError, match="query size"):
        nearest_by_correlation(training_images[:, :16, :16], training_images)
