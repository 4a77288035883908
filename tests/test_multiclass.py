"""Three or more classes: softmax model, macro and per-class metrics, reports, evaluate and predict."""

import math

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn import metrics as skm

from conftest import make_folder_dataset
from xgan.classifier.classify import ArmRun, ClassifyConfig, prepare_experiment
from xgan.classifier.compare import compare_arms
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.metrics import METRICS, batched_multiclass_metric, multiclass_metrics, paired_bootstrap
from xgan.classifier.model import build_classifier
from xgan.classifier.report import format_report, summary_lines
from xgan.cli import cli

NAMES = ["covid", "normal", "pneumonia"]


def random_softmax(rng, num_images, num_classes=3):
    logits = rng.normal(size=(num_images, num_classes))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_multiclass_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60)
    probabilities = random_softmax(rng, 60)
    predicted = probabilities.argmax(1)
    metrics = multiclass_metrics(y_true, probabilities, NAMES)
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_true, predicted))
    assert metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, predicted))
    assert metrics["sensitivity"] == pytest.approx(skm.recall_score(y_true, predicted, average="macro"))
    assert metrics["precision"] == pytest.approx(skm.precision_score(y_true, predicted, average="macro", zero_division=0))
    assert metrics["f1"] == pytest.approx(skm.f1_score(y_true, predicted, average="macro"))
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro"))
    assert metrics["confusion_matrix"]["matrix"] == skm.confusion_matrix(y_true, predicted).tolist()
    for index, name in enumerate(NAMES):
        per_class = metrics["per_class"][name]
        assert per_class["sensitivity"] == pytest.approx(skm.recall_score(y_true == index, predicted == index))
        assert per_class["specificity"] == pytest.approx(skm.recall_score(y_true != index, predicted != index))
        assert per_class["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true == index, probabilities[:, index]))
        assert per_class["support"] == int((y_true == index).sum())


@pytest.mark.parametrize("metric", METRICS)
def test_batched_multiclass_metric_matches_the_point_metric(metric):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 40)
    probabilities = random_softmax(rng, 40)
    batched = batched_multiclass_metric(metric, np.stack([y_true, y_true]), np.stack([probabilities, probabilities[::-1]]))
    assert batched[0] == pytest.approx(multiclass_metrics(y_true, probabilities, NAMES)[metric])
    assert batched[1] == pytest.approx(multiclass_metrics(y_true, probabilities[::-1], NAMES)[metric])


def test_a_class_missing_from_the_labels_is_left_out_of_the_means():
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    metrics = multiclass_metrics(y_true, probabilities, NAMES)
    assert math.isnan(metrics["per_class"]["pneumonia"]["sensitivity"])
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)  # (1/2 + 1/2) / 2 over the two present classes
    assert batched_multiclass_metric("balanced_accuracy", y_true, probabilities) == pytest.approx(0.5)


def test_bootstrap_of_an_arm_against_itself_is_zero():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, 30)
    arm = np.stack([random_softmax(rng, 30) for _ in range(2)])
    for metric in ("balanced_accuracy", "roc_auc"):
        result = paired_bootstrap(y_true, arm, arm, metric, num_resamples=200)
        assert (result["difference"], result["low"], result["high"]) == (0.0, 0.0, 0.0)


def test_three_classes_give_a_softmax_and_no_positive_class():
    config = ClassifierConfig(image_size=16, conv_filters=(4,), dense_units=(8,), class_names=NAMES)
    assert config.is_multiclass and config.num_outputs == 3
    model = build_classifier(config)
    assert model.output_shape == (None, 3) and model.get_layer("output").activation.__name__ == "softmax"
    assert build_classifier(ClassifierConfig(image_size=16, conv_filters=(4,), dense_units=(8,))).output_shape == (None, 1)
    with pytest.raises(ValueError, match="argument `positive_class`. Expected None with 3 classes"):
        ClassifierConfig(image_size=16, class_names=NAMES, positive_class="covid")


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 10, "normal": 24, "pneumonia": 16}, size=16)


def test_compare_report_shows_per_class_results(three_classes):
    experiment = prepare_experiment(ClassifyConfig(data=three_classes, size=16))
    assert experiment.positive is None and experiment.negative is None
    y_true = experiment.targets(experiment.test)
    rng = np.random.default_rng(3)
    runs = []
    for arm in ("baseline", "oversample"):
        for seed in (0, 1):
            probabilities = random_softmax(rng, len(y_true))
            runs.append(ArmRun(arm, seed, probabilities, multiclass_metrics(y_true, probabilities, NAMES), [], 1, 0.1,
                               {"covid": {"real": 7}}, three_classes))
    report = compare_arms(runs, experiment)
    assert report["positive_class"] is None
    assert report["test_set"]["num_per_class"] == {name: int((y_true == i).sum()) for i, name in enumerate(NAMES)}
    assert set(report["arms"]["baseline"]["per_class"]) == set(NAMES)
    assert report["comparisons"]["oversample"]["verdicts"]["balanced_accuracy"] in ("better", "worse", "within noise")
    markdown = format_report(report)
    assert "## Per class (one vs rest" in markdown and "| baseline | pneumonia |" in markdown
    assert "macro averages" in markdown and "positive class" not in markdown
    assert "sensitivity per class: covid" in summary_lines(report)


def test_positive_class_with_three_classes_is_a_user_error(three_classes, tmp_path):
    result = CliRunner().invoke(cli, ["classify", "--data", str(three_classes), "--size", "16", "--positive", "covid", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "a positive class needs exactly two" in result.output


@pytest.mark.parametrize("ratio, expected", [
    ("auto", ["covid", "pneumonia"]),  # every class up to the majority: a GAN for each, smallest first
    ("0.5", ["covid"]),  # half the majority: only covid is below it
])
def test_study_plans_a_gan_for_every_class_balancing_adds_to(three_classes, ratio, expected):
    from xgan.study.runner import StudyConfig, plan_study

    plan = plan_study(StudyConfig(data=str(three_classes), ratio=ratio, size=32))
    assert plan.gan_classes == expected and plan.class_name == expected[0]
    assert plan.num_needed == max(plan.target[name] - plan.train_counts[name] for name in expected)


def test_study_of_two_classes_keeps_its_one_gan(tmp_path):
    from xgan.study.runner import StudyConfig, plan_study

    data = make_folder_dataset(tmp_path / "two", {"covid": 10, "normal": 30}, size=16)
    plan = plan_study(StudyConfig(data=str(data), ratio="0.5", size=32))
    assert plan.gan_classes == ["covid"] == [plan.class_name]


@pytest.mark.slow  # a whole study: two tiny GANs and four classifiers
def test_run_on_three_classes_reports_per_class_results(tmp_path):
    data = make_folder_dataset(tmp_path / "three", {"covid": 14, "normal": 40, "pneumonia": 24}, size=32)
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--size", "32", "--gan-epochs", "2", "--classifier-epochs", "1",
                                      "--seeds", "1", "--ratio", "auto", "--no-quality", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "runs").glob("*-study-three"))
    assert sorted(p.name for p in (folder / "gan").iterdir()) == ["covid", "pneumonia"]
    report = (folder / "report.md").read_text()
    assert "## GAN: covid" in report and "## GAN: pneumonia" in report
    assert "Per class (one vs rest" in report and "| gan | pneumonia |" in report
