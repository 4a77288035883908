"""Known-answer tests of the distribution metrics: KID, Fréchet distance, precision/recall, two-sample AUC."""

import numpy as np
import pytest
import scipy.linalg

from xgan.quality.kid import (frechet_distance, kernel_inception_distance, mmd2_unbiased, polynomial_kernel,
                             trace_sqrt_product)
from xgan.quality.prdc import matched_precision_recall, precision_recall
from xgan.measures.two_sample import classifier_two_sample_test, hanley_mcneil_standard_error


def draw(seed, n=200, d=8, shift=0.0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_polynomial_kernel_matches_formula():
    x, y = draw(0, 3, 4), draw(1, 2, 4)
    expected = np.array([[(xi @ yj / 4 + 1) ** 3 for yj in y] for xi in x])
    np.testing.assert_allclose(polynomial_kernel(x, y), expected)


def test_mmd2_unbiased_by_hand():
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0], [4.0]])
    k = lambda a, b: (a * b + 1) ** 3  # noqa: E731
    within_x = 2 * k(0, 1) / 2
    within_y = 2 * (k(2, 3) + k(2, 4) + k(3, 4)) / 6
    cross = np.mean([k(a, b) for a in (0, 1) for b in (2, 3, 4)])
    assert mmd2_unbiased(x, y) == pytest.approx(within_x + within_y - 2 * cross)


def test_kid_is_about_zero_for_one_distribution_and_grows_with_shift():
    real = draw(0)
    same_set = kernel_inception_distance(real, real, num_subsets=20)
    same_distribution = kernel_inception_distance(real, draw(1), num_subsets=20)
    small_shift = kernel_inception_distance(real, draw(1, shift=0.5), num_subsets=20)
    large_shift = kernel_inception_distance(real, draw(1, shift=1.5), num_subsets=20)
    # A set against itself is slightly negative (the unbiased estimator drops k(x, x) only within
    # sets), and a second draw of the same distribution is about zero; both are far below a shift.
    assert abs(same_set.mean) < 0.1 * small_shift.mean
    assert abs(same_distribution.mean) < 0.01 * small_shift.mean
    assert large_shift.mean > 10 * small_shift.mean > 0
    assert same_set.subset_size == 200 and same_set.num_subsets == 20


def test_kid_std_comes_from_subsets():
    result = kernel_inception_distance(draw(0), draw(1, shift=0.5), num_subsets=30, max_subset_size=50)
    assert result.subset_size == 50
    assert 0 < result.std < result.mean


def test_kid_subset_size_is_bounded_by_the_smaller_set_and_seeded():
    result = kernel_inception_distance(draw(0, 40), draw(1, 300), num_subsets=5, max_subset_size=100, seed=3)
    assert (result.subset_size, result.num_real, result.num_synthetic) == (40, 40, 300)
    again = kernel_inception_distance(draw(0, 40), draw(1, 300), num_subsets=5, max_subset_size=100, seed=3)
    assert again == result


@pytest.mark.parametrize("real, synthetic, kwargs, match", [
    (np.zeros((1, 3)), np.zeros((5, 3)), {}, "real_features"),
    (np.zeros((5, 3)), np.zeros((5, 4)), {}, "feature dimension"),
    (np.zeros((5, 3)), np.full((5, 3), np.nan), {}, "finite"),
    (np.zeros((5, 3)), np.zeros((5, 3)), {"num_subsets": 0}, "num_subsets=0"),
    (np.zeros((5, 3)), np.zeros((5, 3)), {"max_subset_size": 1}, "max_subset_size=1"),
])
def test_kid_rejects_bad_input(real, synthetic, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kernel_inception_distance(real, synthetic, **kwargs)


def test_frechet_distance_known_answer_and_bias():
    # Two Gaussians differing only in the mean: the distance is |mu1 - mu2|^2 plus a small-sample bias.
    large = frechet_distance(draw(0, 4000, 2), draw(1, 4000, 2, shift=1.0))
    assert large == pytest.approx(2.0, abs=0.15)
    small_same = frechet_distance(draw(0, 20, 8), draw(1, 20, 8))
    large_same = frechet_distance(draw(0, 2000, 8), draw(1, 2000, 8))
    assert small_same > 5 * large_same  # biased upwards at small sizes: why KID is the headline
    assert frechet_distance(draw(0, 10, 30), draw(1, 10, 30)) > 0  # singular covariances still give a value


def test_trace_sqrt_product_matches_scipy_sqrtm():
    a, b = np.cov(draw(0, 50, 6), rowvar=False), np.cov(draw(1, 50, 6, shift=1.0) * 2, rowvar=False)
    assert trace_sqrt_product(a, b) == pytest.approx(np.trace(scipy.linalg.sqrtm(a @ b)).real, rel=1e-8)


def test_precision_recall_of_matching_sets_is_high():
    result = precision_recall(draw(0, 300, 4), draw(1, 300, 4), k=3)
    assert result.precision > 0.8 and result.recall > 0.8
    assert 0.7 < result.density < 1.3 and result.coverage > 0.8


def test_collapsed_set_has_low_recall_but_can_keep_precision():
    real = draw(0, 300, 4)
    collapsed = np.repeat(real[:1], 100, axis=0)  # one real image, repeated
    result = precision_recall(real, collapsed, k=3)
    assert result.precision == 1.0
    assert result.recall < 0.05
    assert result.coverage < 0.05


def test_matched_sizes_remove_the_size_bias_of_recall():
    real, synthetic = draw(0, 40, 16), draw(1, 500, 16)  # one distribution, very different sizes
    raw = precision_recall(real, synthetic)
    matched = matched_precision_recall(real, synthetic, num_repeats=10)
    assert raw.recall < raw.precision - 0.1  # small synthetic balls: recall too low
    assert abs(matched["recall"] - matched["precision"]) < 0.15
    assert matched["set_size"] == 40 and matched["num_repeats"] == 10 and matched["recall_std"] > 0


def test_matched_collapsed_set_still_has_low_recall():
    matched = matched_precision_recall(draw(0, 300, 4), np.repeat(draw(1, 1, 4), 100, axis=0))
    assert matched["recall"] < 0.05 and matched["set_size"] == 100


def test_shifted_set_has_low_precision():
    result = precision_recall(draw(0, 300, 4), draw(1, 300, 4, shift=4.0))
    assert result.precision < 0.1


@pytest.mark.parametrize("kwargs, match", [({"k": 0}, "k=0"), ({"k": 5}, "more than k=5")])
def test_precision_recall_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        precision_recall(draw(0, 5, 2), draw(1, 5, 2), **kwargs)


def test_two_sample_auc_is_about_half_for_one_distribution():
    result = classifier_two_sample_test(draw(0, 200, 5), draw(1, 200, 5))
    assert abs(result.auc - 0.5) < 0.1
    assert result.auc_ci_low < 0.5 < result.auc_ci_high
    assert len(result.fold_aucs) == 5


def test_two_sample_auc_is_about_one_for_separable_sets():
    result = classifier_two_sample_test(draw(0, 60, 5), draw(1, 200, 5, shift=3.0))
    assert result.auc > 0.99
    assert (result.num_real, result.num_synthetic) == (60, 200)


def test_two_sample_rejects_too_few_images():
    with pytest.raises(ValueError, match="num_folds=5 rows"):
        classifier_two_sample_test(draw(0, 3, 2), draw(1, 50, 2))
    with pytest.raises(ValueError, match="num_folds=1"):
        classifier_two_sample_test(draw(0, 30, 2), draw(1, 50, 2), num_folds=1)


def test_hanley_mcneil_standard_error_shrinks_with_more_data():
    assert hanley_mcneil_standard_error(0.5, 10, 10) > hanley_mcneil_standard_error(0.5, 1000, 1000)
    assert hanley_mcneil_standard_error(1.0, 10, 10) == 0.0
