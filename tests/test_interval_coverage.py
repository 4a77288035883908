"""Coverage of the paired bootstrap on simulated studies: a known zero difference is called within noise at least about
95% of the time, and a known large difference is detected.

Each simulated study draws its own test and validation images and trains (draws) three models per arm: a model's score
is a logistic function of the label's signal (its strength varies from seed to seed), the image's difficulty (shared by
every model), the model's own offset (how the seed moved its calibration) and its own noise on each image; its threshold
is chosen on the validation images by Youden's J, as xgan chooses it. The comparison is the one `xgan classify --compare`
runs: `paired_bootstrap` with every threshold re-chosen on resampled validation images.

Measured (these seeds, 200 studies, load average 18): the zero difference was called within noise in 199 of 200, above
the nominal 95%, and the large one detected in 50 of 50:
resampling seeds and images independently counts the model-by-image noise twice (Owen's "pigeonhole" bootstrap is
conservative), and the threshold resampling adds to it, so the intervals are wider than the study-to-study spread of the
difference. The test holds the lower bound (a 95% interval must not call noise a difference much more than 5% of the
time) and that a large difference is still detected.
"""

import numpy as np
import pytest

from xgan.classifier.compare import verdict
from xgan.classifier.metrics import paired_bootstrap
from xgan.classifier.threshold import batched_thresholds

NUM_STUDIES = 200
NUM_SEEDS = 3


def _images(rng, count, share_positive=0.3):
    labels = (rng.random(count) < share_positive).astype(int)
    return labels, rng.normal(0, 1.0, count)  # how hard each image is, the same for every model


def _models(rng, labels, difficulty, separation, offsets, noise):
    """One row of scores per seed: the label's signal (`separation`), the image's difficulty, the model's own offset
    and its own noise on each image."""
    logits = separation * 1.5 * labels[None, :] + difficulty[None, :] + offsets[:, None] + rng.normal(0, noise, (len(offsets), len(labels)))
    return 1 / (1 + np.exp(-logits))


def _study(rng, arm_separation, baseline_separation=1.0, num_test=300, num_validation=200):
    test_labels, test_difficulty = _images(rng, num_test)
    validation_labels, validation_difficulty = _images(rng, num_validation)
    scores = {}
    for name, separation in (("arm", arm_separation), ("baseline", baseline_separation)):
        separation = separation * rng.normal(1, 0.1, NUM_SEEDS)[:, None]  # seeds differ in how well they learned
        offsets = rng.normal(0, 0.4, NUM_SEEDS)  # and in their calibration
        # The same model scores test and validation images: the same offset, fresh per-image noise.
        scores[name] = (_models(rng, test_labels, test_difficulty, separation, offsets, 0.6),
                        _models(rng, validation_labels, validation_difficulty, separation, offsets, 0.6))
    stored = {name: batched_thresholds(validation_labels, validation) for name, (_, validation) in scores.items()}
    result = paired_bootstrap(test_labels, scores["arm"][0], scores["baseline"][0], "balanced_accuracy", num_resamples=500,
                              seed=int(rng.integers(1 << 30)), threshold=stored["arm"], baseline_threshold=stored["baseline"],
                              validation=(validation_labels, scores["arm"][1], scores["baseline"][1]), choose_thresholds=batched_thresholds)
    return verdict(result)


@pytest.mark.slow
def test_a_zero_difference_is_within_noise_in_about_95_percent_of_studies():
    rng = np.random.default_rng(20)
    verdicts = [_study(rng, arm_separation=1.0) for _ in range(NUM_STUDIES)]
    within = np.mean([v == "within noise" for v in verdicts])
    # 200 studies: a true rate of 95% falls below 0.915 with about 1% probability (binomial); above it is conservative.
    assert within >= 0.915, within


@pytest.mark.slow
def test_a_large_difference_is_detected():
    rng = np.random.default_rng(21)
    verdicts = [_study(rng, arm_separation=2.0) for _ in range(50)]
    assert np.mean([v == "better" for v in verdicts]) >= 0.9, verdicts
