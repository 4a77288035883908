"""The validation-chosen threshold, early stopping's tie-break, and validation metrics against scikit-learn."""

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from xgan.classifier.metrics import paired_bootstrap
from xgan.classifier.threshold import (candidate_thresholds, choose_threshold, rates_at, sensitivity_threshold, stored_threshold,
                                       youden_threshold)
from xgan.classifier.train import BestValidationEpoch, ValidationMetrics


def test_youden_threshold_maximizes_sensitivity_plus_specificity():
    y_true = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.05, 0.1, 0.2, 0.25, 0.3, 0.35, 0.6, 0.9])
    threshold = youden_threshold(y_true, scores)
    # Candidates are midpoints. J = 3/4 at 0.225 (every positive, one false alarm at 0.3) and at 0.325 (the
    # positive at 0.25 missed, no false alarm): the tie goes to 0.325, nearer 0.5. No threshold does better.
    called = scores >= threshold
    j = called[y_true == 1].mean() + (~called[y_true == 0]).mean() - 1
    best = max(((scores >= t)[y_true == 1].mean() + (scores < t)[y_true == 0].mean() - 1) for t in np.linspace(0, 1, 1001))
    assert j == pytest.approx(best)
    assert j == pytest.approx(0.75)
    assert threshold == pytest.approx(0.325)


def test_youden_ties_go_to_the_threshold_nearest_one_half_and_one_class_gives_one_half():
    # Perfectly separated: any threshold in (0.2, 0.8] is perfect; the midpoint candidate is 0.5.
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.5)
    assert youden_threshold([0, 0, 0], [0.1, 0.7, 0.2]) == 0.5


def test_target_sensitivity_gives_the_highest_threshold_reaching_it():
    y_true = np.array([1, 1, 1, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.2, 0.3, 0.1])
    assert sensitivity_threshold(y_true, scores, 0.75) == pytest.approx(0.35)  # 0.9, 0.8, 0.4 called; 0.2 missed
    assert sensitivity_threshold(y_true, scores, 1.0) == pytest.approx(0.15)  # 0.2 called too, at the cost of 0.3
    record = choose_threshold(y_true, scores, target_sensitivity=1.0)
    assert record == {"threshold": pytest.approx(0.15), "method": "target_sensitivity", "target_sensitivity": 1.0,
                      "fitted_on": "validation", "num_images": 6, "num_positive": 4}
    with pytest.raises(ValueError, match="Expected a float in \\(0, 1\\]. Received: target=0"):
        sensitivity_threshold(y_true, scores, 0)
    with pytest.raises(ValueError, match="at least one positive image"):
        sensitivity_threshold([0, 0], [0.1, 0.2], 0.9)


def test_a_model_saved_without_a_threshold_uses_one_half():
    assert stored_threshold({})["threshold"] == 0.5
    assert stored_threshold({"decision_threshold": {"threshold": 0.3, "method": "youden"}})["threshold"] == 0.3
    assert stored_threshold({"decision_threshold": {"threshold": 0.3}}, tta=True)["threshold"] == 0.5


def test_paired_bootstrap_of_an_arm_against_itself_is_exactly_zero():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 50)
    scores = rng.random((3, 50))
    for metric in ("balanced_accuracy", "roc_auc", "sensitivity", "f1"):
        result = paired_bootstrap(y_true, scores, scores, metric, num_resamples=300, seed=1, threshold=[0.4, 0.5, 0.6])
        assert (result["difference"], result["low"], result["high"]) == (0.0, 0.0, 0.0)


_SKLEARN_METRICS = {
    "balanced_accuracy": lambda y, p, t: skm.balanced_accuracy_score(y, p >= t),
    "roc_auc": lambda y, p, t: skm.roc_auc_score(y, p),
    "sensitivity": lambda y, p, t: skm.recall_score(y, p >= t),
    "f1": lambda y, p, t: skm.f1_score(y, p >= t),
}


@pytest.mark.parametrize("metric", sorted(_SKLEARN_METRICS))
def test_paired_bootstrap_of_two_arms_matches_a_resampling_written_with_scikit_learn(metric):
    """Two different arms, each seed with its own threshold: the difference and interval from a plain loop over resamples."""
    rng = np.random.default_rng(5)
    num_seeds, num_images, num_resamples = 3, 40, 60
    y_true = np.tile([0, 1], num_images // 2)
    baseline = np.clip(rng.normal(0.35 + 0.3 * y_true, 0.2, (num_seeds, num_images)), 0, 1)
    arm = np.clip(rng.normal(0.3 + 0.45 * y_true, 0.2, (num_seeds, num_images)), 0, 1)
    arm_threshold, baseline_threshold = np.array([0.45, 0.5, 0.55]), np.array([0.5, 0.52, 0.48])
    result = paired_bootstrap(y_true, arm, baseline, metric, num_resamples=num_resamples, seed=7, threshold=arm_threshold,
                              baseline_threshold=baseline_threshold)
    score = _SKLEARN_METRICS[metric]
    expected = np.mean([score(y_true, arm[k], arm_threshold[k]) - score(y_true, baseline[k], baseline_threshold[k])
                        for k in range(num_seeds)])
    assert result["difference"] == pytest.approx(expected, abs=1e-12) and abs(expected) > 0.01
    draw = np.random.default_rng(7)  # the documented draw: images with replacement, then seeds with replacement
    images, seeds = draw.integers(0, num_images, (num_resamples, num_images)), draw.integers(0, num_seeds, (num_resamples, num_seeds))
    differences = [np.mean([score(y_true[i], arm[k, i], arm_threshold[k]) - score(y_true[i], baseline[k, i], baseline_threshold[k])
                            for k in ks]) for i, ks in zip(images, seeds)]
    low, high = np.percentile(differences, [2.5, 97.5])
    assert (result["low"], result["high"]) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert result["num_undefined"] == 0 and low < high


def _matrix_rates(y_true, probability, thresholds):
    """The thresholds x images search that `rates_at` replaced, kept as the reference it must equal."""
    called = probability[None, :] >= thresholds[:, None]
    sensitivity = (called & y_true).sum(1) / max(1, y_true.sum())
    specificity = (~called & ~y_true).sum(1) / max(1, (~y_true).sum())
    return sensitivity, specificity


def _matrix_youden(y_true, probability):
    y_true, probability = np.asarray(y_true, bool), np.asarray(probability, np.float64)
    if y_true.all() or not y_true.any():
        return 0.5
    thresholds = candidate_thresholds(probability)
    sensitivity, specificity = _matrix_rates(y_true, probability, thresholds)
    youden = sensitivity + specificity - 1
    best = np.flatnonzero(np.isclose(youden, youden.max(), rtol=0, atol=1e-12))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def _matrix_sensitivity_threshold(y_true, probability, target):
    y_true, probability = np.asarray(y_true, bool), np.asarray(probability, np.float64)
    thresholds = candidate_thresholds(probability)
    sensitivity, _ = _matrix_rates(y_true, probability, thresholds)
    return float(thresholds[sensitivity >= target - 1e-12].max())


def test_the_roc_curve_search_equals_the_matrix_search_on_random_cases_with_ties():
    rng = np.random.default_rng(11)
    for case in range(300):
        num_images = int(rng.integers(1, 80))
        decimals = int(rng.integers(1, 4))  # 1 decimal: many tied scores; 3: few
        probability = np.round(rng.random(num_images), decimals)
        if case % 5 == 0:
            probability[rng.random(num_images) < 0.2] = rng.choice([0.0, 1.0])  # exact 0 and 1 scores
        y_true = (rng.random(num_images) < rng.uniform(0.05, 0.95)).astype(int)
        if case % 17 == 0:
            y_true[:] = case % 2  # one class only
        thresholds = candidate_thresholds(probability)
        for new, old in zip(rates_at(y_true.astype(bool), probability, thresholds),
                            _matrix_rates(y_true.astype(bool), probability, thresholds)):
            np.testing.assert_array_equal(new, old, err_msg=f"case {case}")
        assert youden_threshold(y_true, probability) == _matrix_youden(y_true, probability), case
        if y_true.any():
            for target in (0.5, 0.8, 0.95, 1.0):
                assert sensitivity_threshold(y_true, probability, target) == _matrix_sensitivity_threshold(y_true, probability, target)


def _tiny_model(size=8):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    return keras.Model(inputs, outputs)


def test_validation_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, 2, 30)
    model = _tiny_model()
    callback = ValidationMetrics(images, labels)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    probability = model(images[..., None].astype(np.float32), training=False).numpy().reshape(-1).astype(np.float64)
    assert logs["val_loss"] == pytest.approx(skm.log_loss(labels, probability), rel=1e-6)
    assert logs["val_accuracy"] == pytest.approx(skm.accuracy_score(labels, probability >= 0.5))
    assert logs["val_auc"] == pytest.approx(skm.roc_auc_score(labels, probability))


def test_early_stopping_breaks_val_auc_ties_on_val_loss():
    model = _tiny_model()
    stopping = BestValidationEpoch("val_auc", patience=2)
    stopping.set_model(model)
    stopping.on_train_begin()
    kernel = model.layers[-1]
    epochs = [(1.0, 0.30), (1.0, 0.10), (1.0, 0.20), (0.9, 0.05)]
    for epoch, (auc, loss) in enumerate(epochs):
        kernel.bias.assign([float(epoch)])  # marks the weights of each epoch
        stopping.on_epoch_end(epoch, {"val_auc": auc, "val_loss": loss})
    assert stopping.best_epoch == 1  # the same val_auc as epoch 0, with a lower val_loss; Keras' EarlyStopping kept epoch 0
    assert model.stop_training  # two epochs without improvement after it
    stopping.on_train_end()
    assert float(kernel.bias.numpy()[0]) == 1.0


def test_early_stopping_on_val_loss_keeps_the_lowest():
    model = _tiny_model()
    stopping = BestValidationEpoch("val_loss", patience=5)
    stopping.set_model(model)
    stopping.on_train_begin()
    for epoch, loss in enumerate([0.5, 0.3, 0.3, 0.4]):
        stopping.on_epoch_end(epoch, {"val_loss": loss, "val_auc": 0.5})
    assert stopping.best_epoch == 1 and not getattr(model, "stop_training", False)


@pytest.mark.parametrize("target", [None, 0.5, 0.8, 1.0])
def test_batched_thresholds_choose_as_the_one_model_rules(target):
    from xgan.classifier.threshold import batched_thresholds, sensitivity_threshold, youden_threshold

    rng = np.random.default_rng(0)
    for _ in range(300):
        size = int(rng.integers(2, 25))
        y_true = (rng.random(size) < rng.random()).astype(int)
        scores = np.round(rng.random(size), int(rng.integers(1, 3)))  # ties, and scores of exactly 0 and 1
        if target is None:
            expected = youden_threshold(y_true, scores)
        elif y_true.any():
            expected = sensitivity_threshold(y_true, scores, target)
        else:
            assert np.isnan(batched_thresholds(y_true, scores, target))  # no positive image to aim at
            continue
        assert batched_thresholds(y_true[None], scores[None], target)[0] == pytest.approx(expected)



@pytest.mark.parametrize("target", [None, 0.5, 0.8, 1.0])
def test_thresholds_of_draws_equal_batched_thresholds_on_the_drawn_arrays(target):
    """The bootstrap's counting form picks the very thresholds of sorting every draw: ties within and across models,
    scores of exactly 0 and 1, draws of one class only, and a model with a NaN score."""
    from xgan.classifier.threshold import batched_thresholds, thresholds_of_draws

    rng = np.random.default_rng(1)
    for case in range(60):
        size, models = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        y_true = (rng.random(size) < rng.random()).astype(int)
        scores = np.round(rng.random((models, size)), int(rng.integers(1, 4)))
        if case % 10 == 9:
            scores[0, 0] = np.nan
        draw = rng.integers(0, size, (int(rng.integers(1, 50)), size))
        expected = batched_thresholds(y_true[draw][:, None, :], scores[:, draw].swapaxes(0, 1), target)
        np.testing.assert_array_equal(thresholds_of_draws(y_true, scores, draw, target), expected)
    with pytest.raises(ValueError, match="target_sensitivity`. Expected a float in \\(0, 1\\]"):
        thresholds_of_draws(y_true, scores, draw, 1.5)

def test_batched_thresholds_run_along_the_last_axis():
    from xgan.classifier.threshold import batched_thresholds, youden_threshold

    y_true = np.array([0, 0, 1, 1])
    scores = np.array([[[0.1, 0.2, 0.8, 0.9], [0.1, 0.6, 0.3, 0.9]]])  # (1, 2, 4): one threshold per row
    chosen = batched_thresholds(y_true, scores)
    assert chosen.shape == (1, 2)
    assert chosen[0, 1] == pytest.approx(youden_threshold(y_true, scores[0, 1]))
    assert batched_thresholds(np.zeros(4), scores[0, 0]) == 0.5  # one class only: 0.5, as youden_threshold
    with pytest.raises(ValueError, match="target_sensitivity`. Expected a float in \\(0, 1\\]. Received: 0"):
        batched_thresholds(y_true, scores, 0)
