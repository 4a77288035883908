"""The comparison's options, its statistics on hand-made runs, and the plain-words report."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from xgan.classifier.classify import ArmRun, ClassifyConfig
from xgan.classifier.compare import compare_arms
from xgan.classifier.metrics import metrics_at_thresholds
from xgan.classifier.report import format_report, json_ready, plain_sentence
from xgan.errors import UserError


def test_arms_and_seeds_follow_the_options(tmp_path):
    assert ClassifyConfig().arms == ["baseline"]
    assert ClassifyConfig().seed_list == [0]
    compare = ClassifyConfig(compare=True, seeds=3, seed=5)
    assert compare.arms == ["baseline", "classic", "oversample", "class_weights"]
    assert compare.seed_list == [5, 6, 7]
    with_gan = ClassifyConfig(compare=True, synthetic=(tmp_path,))
    assert with_gan.arms == ["baseline", "classic", "oversample", "class_weights", "gan", "gan_capped", "gan_equal",
                             "gan_finetune", "gan_class_weights", "gan_curated"]
    assert ClassifyConfig(with_gan=True, manifest=tmp_path / "m.csv").arms == ["gan"]


@pytest.mark.parametrize("options, expected", [
    ({}, ("adam", 1e-3, 0.0)),
    ({"optimizer": "sgd"}, ("sgd", 1e-4, 1e-6)),  # the study's optimizer, whole
    ({"optimizer": "sgd", "learning_rate": 0.01}, ("sgd", 0.01, 1e-6)),
    ({"optimizer": "adam", "lr_decay": 1e-4}, ("adam", 1e-3, 1e-4)),
])
def test_learning_rate_and_decay_default_to_the_optimizers_own(options, expected):
    network = ClassifyConfig(**options).classifier_config()
    assert (network.optimizer, network.learning_rate, network.lr_decay) == expected


@pytest.mark.parametrize("options, match", [
    ({"synthetic": ("a",), "manifest": "m.csv", "with_gan": True}, "either --synthetic folders .* or a --manifest"),
    ({"seed": -1}, "argument `seed`"),
    ({"seeds": 0}, "argument `seeds`"),
    ({"epochs": 0}, "argument `epochs`"),
    ({"size": 4}, "--size 4: the cnn backbone takes images of at least 8 px"),
    ({"optimizer": "rmsprop"}, "argument `optimizer`"),
])
def test_classify_config_refuses(options, match):
    with pytest.raises(UserError, match=match):
        ClassifyConfig(**options)


class _Validation(list):
    def __init__(self, labels):
        super().__init__(labels)
        self.labels = np.asarray(labels)

    def targets(self, positive):
        return self.labels


def _experiment(y_true, validation_labels=(0,) * 5 + (1,) * 5):
    test = SimpleNamespace(targets=lambda positive: y_true)
    return SimpleNamespace(test=test, positive="covid", negative="normal", class_names=["covid", "normal"],
                           dataset=SimpleNamespace(source=Path("data"), fingerprint="f00"),
                           splits=SimpleNamespace(path=Path("splits.json")), validation=_Validation(validation_labels))


def _run(arm, seed, y_true, probabilities, threshold=0.5, validation_probabilities=None):
    metrics = metrics_at_thresholds(y_true, probabilities, ("normal", "covid"), threshold)
    history = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.9}]
    return ArmRun(arm, seed, probabilities, metrics, history, 1, 0.1, {"covid": {"real": 3}}, Path(f"{arm}/{seed}"),
                  threshold, validation_probabilities)


def test_compare_arms_pairs_seeds_and_states_the_verdicts():
    rng = np.random.default_rng(0)
    y_true = np.array([1] * 40 + [0] * 160)
    runs = []
    for seed in (0, 1, 2):
        # The baseline misses most positives; the "better" arm finds them; "same" is the baseline plus tiny noise.
        baseline = np.where(y_true == 1, rng.uniform(0.2, 0.6, 200), rng.uniform(0.0, 0.4, 200))
        better = np.where(y_true == 1, rng.uniform(0.6, 1.0, 200), rng.uniform(0.0, 0.4, 200))
        runs += [_run("baseline", seed, y_true, baseline), _run("better", seed, y_true, better),
                 _run("same", seed, y_true, np.clip(baseline + rng.normal(0, 0.01, 200), 0, 1))]
    report = compare_arms(runs, _experiment(y_true), seed=0)
    assert list(report["arms"]) == ["baseline", "better", "same"]
    assert report["arms"]["better"]["summary"]["sensitivity"]["mean"] == 1.0
    assert report["comparisons"]["better"]["verdicts"]["sensitivity"] == "better"
    assert report["comparisons"]["better"]["mcnemar"]["ensemble"]["p_value"] < 1e-6
    assert report["comparisons"]["same"]["verdicts"]["roc_auc"] == "within noise"
    assert "gan_vs_oversample" not in report  # only when both arms ran
    markdown = format_report(json_ready({**report, "plots": ["roc_curves.png"]}))
    assert "Within noise: the interval includes zero" in markdown
    assert "The better arm is better; the interval excludes zero." in markdown
    assert "![roc_curves.png](roc_curves.png)" in markdown
    # The declared primary metric, in report.json and report.md; the others labelled secondary.
    assert report["primary_metric"] == "balanced_accuracy"
    details = report["primary_metric_details"]
    assert "roc_auc" in details["secondary"] and "balanced_accuracy" not in details["secondary"] and "validation" in details["threshold"]
    assert report["comparisons"]["better"]["primary_verdict"] == report["comparisons"]["better"]["verdicts"]["balanced_accuracy"]
    assert "primary metric: **balanced accuracy**" in markdown
    assert "| better | baseline | **balanced accuracy (primary)** |" in markdown
    assert "| better | baseline | ROC-AUC (secondary) |" in markdown
    assert "- **Primary:** better vs baseline, balanced accuracy" in markdown


def test_compare_arms_scores_each_model_at_its_own_threshold():
    # Scores 0.3 for every positive, 0.1 for every negative: perfect at a threshold of 0.2, blind to positives at 0.5.
    y_true = np.array([1, 1, 0, 0, 0, 0])
    scores = np.where(y_true == 1, 0.3, 0.1)
    runs = [_run(arm, 0, y_true, scores, threshold) for arm, threshold in (("baseline", 0.5), ("tuned", 0.2))]
    report = compare_arms(runs, _experiment(y_true), seed=0)
    assert report["arms"]["tuned"]["runs"][0]["metrics"]["sensitivity"] == 1.0
    assert report["arms"]["tuned"]["runs"][0]["at_threshold_0.5"]["sensitivity"] == 0.0
    assert report["arms"]["tuned"]["summary_at_threshold_0.5"]["balanced_accuracy"]["mean"] == 0.5
    assert report["comparisons"]["tuned"]["differences"]["balanced_accuracy"]["difference"] == pytest.approx(0.5)
    assert report["comparisons"]["tuned"]["differences"]["roc_auc"]["difference"] == 0.0


def test_seed_ensemble_averages_probabilities_and_chooses_its_threshold_on_validation():
    y_true = np.array([1, 0, 1, 0])
    validation_labels = np.array([1, 1, 0, 0])
    first, second = np.array([0.9, 0.2, 0.3, 0.1]), np.array([0.7, 0.6, 0.5, 0.3])
    runs = [_run("baseline", 0, y_true, first, 0.5, np.array([0.8, 0.6, 0.2, 0.1])),
            _run("baseline", 1, y_true, second, 0.5, np.array([0.6, 0.4, 0.3, 0.0]))]
    report = compare_arms(runs, _experiment(y_true, validation_labels), seed=0)
    ensemble = report["arms"]["baseline"]["ensemble"]
    # By hand: mean validation scores 0.7, 0.5 (positives), 0.25, 0.05 (negatives): Youden's J is 1 for any
    # threshold in (0.25, 0.5]; the candidates are midpoints, so 0.375, the one nearest 0.5.
    assert ensemble["threshold"]["threshold"] == pytest.approx(0.375)
    # Mean test scores 0.8, 0.4, 0.4, 0.2 at 0.375: calls 1, 1, 1, 0 -> the negative at index 1 is wrong.
    assert ensemble["metrics"]["accuracy"] == 0.75
    assert ensemble["metrics"]["sensitivity"] == 1.0 and ensemble["metrics"]["specificity"] == 0.5
    # At 0.5 only 0.8 is called positive: one positive missed instead of one negative.
    assert (ensemble["at_threshold_0.5"]["sensitivity"], ensemble["at_threshold_0.5"]["specificity"]) == (0.5, 1.0)


def test_compare_arms_refuses_unpaired_seeds():
    y_true = np.array([0, 1, 0, 1])
    runs = [_run("baseline", 0, y_true, np.full(4, 0.4)), _run("gan", 1, y_true, np.full(4, 0.6))]
    with pytest.raises(ValueError, match="Expected the same seeds \\[0\\] for every arm"):
        compare_arms(runs, _experiment(y_true))


def test_plain_sentence_says_when_a_difference_is_noise():
    interval = {"difference": 0.02, "low": -0.05, "high": 0.09}
    sentence = plain_sentence("gan", "baseline", "balanced_accuracy", interval, "within noise", 0.95)
    assert sentence == ("gan vs baseline, balanced accuracy: +0.020 (95% interval -0.050 to +0.090). Within noise: "
                        "the interval includes zero, so this test set and these seeds cannot tell the two apart.")
    assert json_ready({"a": float("nan"), "b": [np.float32(0.5)]}) == {"a": None, "b": [0.5]}


def test_compare_arms_resamples_thresholds_holm_adjusts_and_reports_calibration():
    rng = np.random.default_rng(3)
    y_true = np.array([1] * 40 + [0] * 160)
    validation_labels = np.array([1] * 10 + [0] * 30)
    experiment = _experiment(y_true, validation_labels)
    def scores(labels, shift):
        return np.clip(np.where(labels == 1, 0.6 + shift, 0.3) + rng.normal(0, 0.15, len(labels)), 0, 1)
    runs = []
    for seed in (0, 1, 2):
        for arm, shift in (("baseline", 0.0), ("better", 0.25), ("same", 0.0), ("near", 0.04)):
            runs.append(_run(arm, seed, y_true, scores(y_true, shift), 0.45, scores(validation_labels, shift)))
    report = compare_arms(runs, experiment, seed=0)
    comparisons = report["comparisons"]
    assert all(c["differences"]["balanced_accuracy"]["thresholds_resampled"] for c in comparisons.values())
    assert not comparisons["better"]["differences"]["roc_auc"]["thresholds_resampled"]
    assert {c["holm"]["family_size"] for c in comparisons.values()} == {3}
    p_values = {arm: c["holm"]["p_value"] for arm, c in comparisons.items()}
    assert comparisons["better"]["holm"]["adjusted_p_value"] == pytest.approx(min(1, 3 * p_values["better"]))
    assert comparisons["better"]["primary_verdict"] == comparisons["better"]["verdicts"]["balanced_accuracy"] == "better"
    assert comparisons["same"]["primary_verdict"] == "within noise"
    power = comparisons["better"]["power"]
    interval = comparisons["better"]["differences"]["balanced_accuracy"]
    assert power["interval_half_width"] == pytest.approx((interval["high"] - interval["low"]) / 2)
    assert power["minimum_detectable_effect"] == pytest.approx(power["interval_half_width"] * 1.4294, rel=1e-3)
    assert power["minimum_detectable_effect_holm"] > power["minimum_detectable_effect"]
    calibration = report["arms"]["baseline"]["calibration"]
    assert [r["seed"] for r in calibration["runs"]] == [0, 1, 2] and "equal-width" in calibration["binning"]
    assert calibration["summary"]["ece"]["num_runs"] == 3 and 0 <= calibration["ensemble"]["brier"] <= 1
    markdown = format_report(json_ready(report))
    assert "## Calibration on the test split" in markdown and "| baseline | " in markdown.split("## Calibration on the test split")[1]
    assert "Holm-adjusted over the 3 paired comparison(s)" in markdown
    assert "re-chosen, by the same rule, on validation images drawn with replacement" in markdown
    assert "lower bound on the seed-to-seed noise" in markdown
    assert "| arm | vs | balanced accuracy difference (primary) | 95% interval | interval half-width | minimum detectable effect (80% power)" in markdown
    assert "detectable difference" not in markdown.lower()


def test_holm_can_turn_an_interval_that_excludes_zero_into_noise():
    from xgan.classifier.compare import adjust_verdicts

    def comparison(p_value, low):
        return {"differences": {"balanced_accuracy": {"difference": low + 0.02, "low": low, "high": low + 0.04, "confidence": 0.95,
                                                      "p_value": p_value}},
                "verdicts": {"balanced_accuracy": "better" if low > 0 else "within noise"}}
    report = {"baseline": "baseline", "comparisons": {"a": comparison(0.004, 0.01), "b": comparison(0.03, 0.001), "c": comparison(0.5, -0.03)}}
    adjust_verdicts(report)
    verdicts = {arm: (c["primary_verdict"], c["primary_verdict_unadjusted"]) for arm, c in report["comparisons"].items()}
    assert verdicts == {"a": ("better", "better"), "b": ("within noise", "better"), "c": ("within noise", "within noise")}
    sentence = plain_sentence("b", "baseline", "balanced_accuracy", report["comparisons"]["b"]["differences"]["balanced_accuracy"],
                              "within noise", 0.95, report["comparisons"]["b"]["holm"])
    assert sentence.endswith("Within noise after adjusting for 3 comparisons: the interval alone excludes zero, but Holm-adjusted "
                             "p = 0.060 over 3 comparisons (unadjusted 0.030) is not below 0.05.")
