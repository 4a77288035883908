"""The validation-chosen threshold, early stopping's tie-break, and validation metrics against scikit-learn."""

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from xgan.classifier.metrics import paired_bootstrap
from xgan.classifier.threshold import choose_threshold, sensitivity_threshold, stored_threshold, youden_threshold
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
