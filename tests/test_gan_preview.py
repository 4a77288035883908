"""Pure pieces of a GAN run: the image grid, the plot's panels and the health checks."""

import math

import cv2
import numpy as np
import pytest

from xgan.gan import make_image_grid
from xgan.gan.health import discriminator_wins, has_non_finite_loss, image_diversity, is_collapsed
from xgan.gan.plot import plot_history, plot_panels


def numbered(count, height=3, width=2):
    return np.stack([np.full((height, width), index + 1, np.uint8) for index in range(count)])


def test_grid_places_images_row_by_row_with_padding():
    grid = make_image_grid(numbered(5), columns=3, padding=1, fill=0)
    assert grid.shape == (2 * 3 + 1, 3 * 2 + 2)
    assert grid[0, 0] == 1 and grid[0, 3] == 2 and grid[0, 6] == 3
    assert grid[4, 0] == 4 and grid[4, 3] == 5
    assert (grid[4:, 6:] == 0).all()  # the empty last cell
    assert (grid[3, :] == 0).all() and (grid[:, 2] == 0).all()  # padding lines


def test_grid_without_padding_is_a_plain_tiling():
    images = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 1), dtype=np.uint8)
    grid = make_image_grid(images, columns=2, padding=0)
    np.testing.assert_array_equal(grid[:5, 5:], images[1, ..., 0])
    np.testing.assert_array_equal(grid[5:, :5], images[2, ..., 0])


def test_grid_with_more_columns_than_images_is_one_row():
    assert make_image_grid(numbered(2), columns=8, padding=0).shape == (3, 4)


@pytest.mark.parametrize("images, columns, match", [
    (np.zeros((0, 4, 4), np.uint8), 2, "non-empty"),
    (np.zeros((2, 4, 4), np.float32), 2, "uint8"),
    (np.zeros((2, 4, 4, 3), np.uint8), 2, r"shape=\(2, 4, 4, 3\)"),
    (np.zeros((2, 4, 4), np.uint8), 0, "columns=0"),
])
def test_grid_refuses_bad_input(images, columns, match):
    with pytest.raises(ValueError, match=match):
        make_image_grid(images, columns)


def test_plot_has_a_panel_for_every_extra_metric(tmp_path):
    history = [{"epoch": 1, "step": 1, "seconds": 0.5, "d_loss": 1.3, "g_loss": 0.7, "d_real_acc": 0.5, "d_fake_acc": 0.5},
               {"epoch": 2, "step": 2, "seconds": 0.5, "d_loss": 1.2, "g_loss": 0.8, "d_real_acc": 0.6, "d_fake_acc": 0.5, "kid": 0.1}]
    titles = [title for title, _ in plot_panels(history)]
    assert titles == ["loss", "discriminator accuracy", "kid"]
    path = plot_history(history, tmp_path / "losses.png")
    assert cv2.imread(str(path)) is not None


def test_health_checks():
    assert has_non_finite_loss({"d_loss": math.nan, "g_loss": 1.0})
    assert not has_non_finite_loss({"d_loss": 1.0, "g_loss": 1.0})
    winning = [{"d_real_acc": 1.0, "d_fake_acc": 0.99}] * 10
    assert discriminator_wins(winning)
    assert not discriminator_wins(winning[:9])
    assert not discriminator_wins(winning[:9] + [{"d_real_acc": 0.7, "d_fake_acc": 1.0}])
    same = np.full((4, 8, 8), 100, np.uint8)
    assert image_diversity(same) == 0.0
    assert is_collapsed(1.0, real_diversity=40.0, best_diversity=30.0)
    assert not is_collapsed(1.0, real_diversity=40.0, best_diversity=1.5)  # not yet learned, not collapsed
    assert not is_collapsed(30.0, real_diversity=40.0, best_diversity=35.0)
