import numpy as np
import pytest

from xgan.measures.corruptions import CORRUPTIONS, NUM_SEVERITIES, corrupt, shift_suite, suite_keys


def _films(count=40, size=28):
    """Smooth gray patterns, a different one per image, with room to brighten and darken."""
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([(128 + 80 * np.sin(x / (2 + k % 5)) * np.cos(y / (3 + k % 4))).astype(np.uint8) for k in range(count)])


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_every_corruption_is_deterministic_and_grows_with_severity(name):
    films = _films()
    changes = []
    for severity in range(1, NUM_SEVERITIES + 1):
        copy = corrupt(films, name, severity, seed=3)
        assert copy.shape == films.shape and copy.dtype == np.uint8
        np.testing.assert_array_equal(copy, corrupt(films, name, severity, seed=3))
        changes.append(np.abs(copy.astype(float) - films).mean())
    assert np.all(np.diff(changes) > 0), changes
    np.testing.assert_array_equal(films, _films())  # the input is never changed in place


def test_the_seed_changes_random_corruptions_only():
    films = _films(4)
    assert not np.array_equal(corrupt(films, "gaussian_noise", 3, seed=0), corrupt(films, "gaussian_noise", 3, seed=1))
    np.testing.assert_array_equal(corrupt(films, "gamma_up", 3, seed=0), corrupt(films, "gamma_up", 3, seed=1))


def test_a_copy_does_not_depend_on_the_images_beside_it():
    films = _films(6)
    np.testing.assert_array_equal(corrupt(films, "brightness_down", 2)[:3], corrupt(films[:3], "brightness_down", 2))


def test_intensity_corruptions_are_exact():
    film = np.full((1, 4, 4), 100, np.uint8)
    film[0, 0, 0] = 200
    np.testing.assert_array_equal(corrupt(film, "brightness_up", 5)[0, 1, 1], 150)  # x 1.5
    np.testing.assert_array_equal(corrupt(film, "brightness_down", 1)[0, 1, 1], 90)  # x 0.9
    assert corrupt(film, "gamma_up", 5)[0, 1, 1] == round(255 * (100 / 255) ** 1.6)
    mean = (15 * 100 + 200) / 16
    assert corrupt(film, "contrast_down", 5)[0, 0, 0] == round(mean + (200 - mean) * 0.4)


def test_impulse_noise_hits_its_share_of_pixels():
    films = np.full((20, 50, 50), 128, np.uint8)
    hit = corrupt(films, "impulse_noise", 5) != 128  # 2 % of the pixels, black or white
    assert hit.mean() == pytest.approx(0.02, abs=0.002)


def test_rotation_keeps_the_centre_and_blackens_the_corners():
    films = np.full((3, 32, 32), 200, np.uint8)
    turned = corrupt(films, "rotation", 5)
    assert (turned[:, 16, 16] == 200).all() and (turned[:, 0, 0] < 200).all()


def test_jpeg_at_low_quality_loses_more_than_at_high():
    films = _films(4)
    assert np.abs(corrupt(films, "jpeg_compression", 5).astype(int) - films).mean() > 2 * np.abs(corrupt(films, "jpeg_compression", 1).astype(int) - films).mean()


def test_the_suite_yields_every_corruption_and_severity_once():
    films = _films(2)
    copies = dict(shift_suite(films, seed=1, names=["gaussian_blur", "zoom"]))
    assert list(copies) == [("gaussian_blur", s) for s in range(1, 6)] + [("zoom", s) for s in range(1, 6)]
    np.testing.assert_array_equal(copies[("zoom", 2)], corrupt(films, "zoom", 2, seed=1))
    assert len(suite_keys()) == len(CORRUPTIONS) * NUM_SEVERITIES


def test_channel_last_images_are_read_as_gray():
    films = _films(2)
    np.testing.assert_array_equal(corrupt(films[..., None], "pixelate", 3), corrupt(films, "pixelate", 3))


@pytest.mark.parametrize("name, severity, match", [
    ("fog", 1, "Expected one of gaussian_noise"),
    ("zoom", 0, "Expected an integer from 1 to 5. Received: severity=0"),
    ("zoom", 6, "Received: severity=6"),
    ("zoom", 2.0, "Received: severity=2.0"),
])
def test_bad_names_and_severities_are_refused(name, severity, match):
    with pytest.raises(ValueError, match=match):
        corrupt(_films(1), name, severity)


def test_images_that_are_not_gray_uint8_squares_are_refused():
    with pytest.raises(ValueError, match=r"Expected \(N, S, S\) uint8 gray images. Received: shape \(1, 4, 4\), dtype float64"):
        corrupt(np.zeros((1, 4, 4)), "zoom", 1)
    with pytest.raises(ValueError, match="shape \\(4, 4\\)"):
        corrupt(np.zeros((4, 4), np.uint8), "zoom", 1)
